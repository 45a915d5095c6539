#include "plugins/tokenizers/byte_tokenizer.h"

#include "core/base/error.h"

namespace kiln::tokenizers {

ByteTokenizer::ByteTokenizer(std::vector<std::string> special_tokens,
                             std::optional<std::string> eos)
    : TokenizerBase("byte", std::move(special_tokens), std::move(eos)) {
  set_specials(number_specials(256));
}

void ByteTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  for (char c : text) out.push_back(static_cast<unsigned char>(c));
}

void ByteTokenizer::append_ordinary(int32_t id, std::string& out) const {
  KILN_CHECK(id >= 0 && id < vocab_size(), who(), "id ", id, " is outside the vocabulary [0, ",
             vocab_size(), ")");
  out += char(id);
}

void ByteTokenizer::save(const std::string& dir) const {
  write_saved(dir, saved_header());
}

void ByteTokenizer::load(const std::string& dir) {
  const SavedHeader h = read_saved(dir);
  for (size_t i = 0; i < h.specials.size(); ++i)
    if (h.specials[i].second != int32_t(256 + i))
      h.config.at("special_tokens").fail("the special tokens' ids do not follow the 256 bytes");
  h.config.check_all_read();
  restore_specials(h);
}

}  // namespace kiln::tokenizers
