// The byte tokenizer: ids 0..255 are the bytes of the text, special tokens follow from 256.
#pragma once

#include <algorithm>

#include "plugins/tokenizers/tokenizer_base.h"

namespace kiln::tokenizers {

class ByteTokenizer final : public TokenizerBase {
 public:
  explicit ByteTokenizer(std::vector<std::string> special_tokens = {},
                         std::optional<std::string> eos = std::nullopt);

  int64_t vocab_size() const override {
    return std::max<int64_t>(256, int64_t(special_flag_.size()));
  }
  void save(const std::string& dir) const override;
  void load(const std::string& dir) override;

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;
  void append_ordinary(int32_t id, std::string& out) const override;
};

}  // namespace kiln::tokenizers
