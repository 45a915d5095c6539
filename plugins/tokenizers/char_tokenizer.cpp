#include "plugins/tokenizers/char_tokenizer.h"

#include <algorithm>

#include "core/base/error.h"
#include "plugins/tokenizers/unicode.h"

namespace kiln::tokenizers {
namespace {

// Where a byte offset is, for messages: "line 3, column 5 (byte 120)".
std::string position_str(std::string_view text, size_t pos) {
  const TextPosition p = text_position(text, pos);
  return "line " + std::to_string(p.line) + ", column " + std::to_string(p.column) + " (byte " +
         std::to_string(pos) + ")";
}

std::string byte_str(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", unsigned(b));
  return buf;
}

}  // namespace

CharTokenizer::CharTokenizer(std::vector<std::string> special_tokens,
                             std::optional<std::string> eos, std::optional<std::string> chars,
                             UnknownChar unknown, std::string replacement)
    : TokenizerBase("char", std::move(special_tokens), std::move(eos)), unknown_(unknown) {
  if (unknown_ == UnknownChar::replace) {
    const Utf8Char ch = replacement.empty() ? Utf8Char{} : decode_utf8(replacement, 0);
    KILN_CHECK(!replacement.empty() && ch.valid && ch.len == replacement.size(), who(),
               "replacement must be one character, got \"", replacement, "\"");
    replacement_ = ch.cp;
  }
  if (chars) {
    std::vector<char32_t> cps;
    for (size_t i = 0; i < chars->size();) {
      const Utf8Char ch = decode_utf8(*chars, i);
      if (!ch.valid) fail_at(*chars, i, "invalid UTF-8 byte " + byte_str(ch.cp) + " in chars");
      cps.push_back(ch.cp);
      i += ch.len;
    }
    KILN_CHECK(!cps.empty(), who(),
               "chars is empty: give the characters of the vocabulary, or leave it out to learn "
               "them from the training text");
    set_vocabulary(std::move(cps));
  }
}

void CharTokenizer::set_vocabulary(std::vector<char32_t> chars) {
  std::sort(chars.begin(), chars.end());
  chars.erase(std::unique(chars.begin(), chars.end()), chars.end());
  chars_ = std::move(chars);
  utf8_.assign(chars_.size(), std::string());
  ascii_.fill(-1);
  other_.clear();
  byte_of_.assign(chars_.size(), -1);
  for (size_t i = 0; i < chars_.size(); ++i) {
    append_utf8(utf8_[i], chars_[i]);
    if (chars_[i] < 128) byte_of_[i] = int16_t(chars_[i]);
    if (chars_[i] < 128)
      ascii_[chars_[i]] = int32_t(i);
    else
      other_[chars_[i]] = int32_t(i);
  }
  set_specials(number_specials(int32_t(chars_.size())));
  if (unknown_ == UnknownChar::replace) {
    const auto it = std::lower_bound(chars_.begin(), chars_.end(), replacement_);
    KILN_CHECK(it != chars_.end() && *it == replacement_, who(), "the replacement character ",
               describe_char(replacement_), " is not in the vocabulary of ", chars_.size(),
               " characters (pick one of them, or unknown = \"skip\")");
    replacement_id_ = int32_t(it - chars_.begin());
  }
  ready_ = true;
}

void CharTokenizer::ensure_ready() const {
  KILN_CHECK(ready_, who(),
             "the vocabulary has not been learned yet: fit() the tokenizer on the training text, "
             "load() a saved one, or give chars");
}

int64_t CharTokenizer::vocab_size() const {
  ensure_ready();
  return std::max<int64_t>(int64_t(chars_.size()), int64_t(special_flag_.size()));
}

void CharTokenizer::fit(const std::vector<std::string_view>& corpus) {
  std::array<bool, 128> ascii{};
  std::vector<char32_t> seen;
  for (size_t d = 0; d < corpus.size(); ++d) {
    const std::string_view text = corpus[d];
    for (size_t i = 0; i < text.size();) {
      const auto b = static_cast<unsigned char>(text[i]);
      if (b < 0x80) {
        ascii[b] = true;
        ++i;
        continue;
      }
      const Utf8Char ch = decode_utf8(text, i);
      if (!ch.valid)
        fail_at(
            text, i,
            "invalid UTF-8 byte " + byte_str(b) + " in document " + std::to_string(d) +
                " of the training text (the char tokenizer needs UTF-8 text; the byte tokenizer "
                "takes any bytes)");
      seen.push_back(ch.cp);
      i += ch.len;
      // Keep the buffer of non-ASCII characters small on text that is mostly non-ASCII.
      if (seen.size() > (1u << 20)) {
        std::sort(seen.begin(), seen.end());
        seen.erase(std::unique(seen.begin(), seen.end()), seen.end());
      }
    }
  }
  for (char32_t c = 0; c < 128; ++c)
    if (ascii[c]) seen.push_back(c);
  KILN_CHECK(!seen.empty(), who(), "the training text is empty: there is no character to learn");
  set_vocabulary(std::move(seen));
}

void CharTokenizer::fail_at(std::string_view text, size_t pos, const std::string& what) const {
  KILN_FAIL(who(), what, " at ", position_str(text, pos));
}

void CharTokenizer::encode_ordinary(std::string_view text, std::vector<int32_t>& out) const {
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80 && ascii_[b] >= 0) {
      out.push_back(ascii_[b]);
      ++i;
      continue;
    }
    const Utf8Char ch = decode_utf8(text, i);
    if (!ch.valid) fail_at(text, i, "invalid UTF-8 byte " + byte_str(b) + " in the text to encode");
    auto it = ch.cp < 0x80 ? other_.end() : other_.find(ch.cp);
    if (it != other_.end()) {
      out.push_back(it->second);
    } else if (unknown_ == UnknownChar::error) {
      fail_at(text, i,
              "the character " + describe_char(ch.cp) + " is not in the vocabulary of " +
                  std::to_string(chars_.size()) +
                  " characters learned from the training text (unknown = \"skip\" or "
                  "\"replace\" lets it through); it appears");
    } else {
      ++unknown_count_;
      if (unknown_ == UnknownChar::replace) out.push_back(replacement_id_);
    }
    i += ch.len;
  }
}

std::string CharTokenizer::decode(const std::vector<int32_t>& ids) const {
  ensure_ready();
  std::string out;
  out.reserve(ids.size());
  for (int32_t id : ids) {
    if (size_t(id) < byte_of_.size() && byte_of_[size_t(id)] >= 0)
      out.push_back(char(byte_of_[size_t(id)]));
    else if (is_special(id))
      out += *specials_.text_of(id);
    else
      append_ordinary(id, out);
  }
  return out;
}

void CharTokenizer::append_ordinary(int32_t id, std::string& out) const {
  KILN_CHECK(id >= 0 && size_t(id) < utf8_.size(), who(), "id ", id,
             " is outside the vocabulary [0, ", vocab_size(), ")");
  out += utf8_[size_t(id)];
}

void CharTokenizer::save(const std::string& dir) const {
  ensure_ready();
  Config c = saved_header();
  std::string chars;
  for (const std::string& s : utf8_) chars += s;
  c.set("chars", chars);
  write_saved(dir, c);
}

void CharTokenizer::load(const std::string& dir) {
  const SavedHeader h = read_saved(dir);
  const Config& chars = h.config.at("chars");
  std::vector<char32_t> cps;
  const std::string& s = chars.as_string();
  for (size_t i = 0; i < s.size();) {
    const Utf8Char ch = decode_utf8(s, i);
    if (!ch.valid) chars.fail("invalid UTF-8 at byte " + std::to_string(i));
    cps.push_back(ch.cp);
    i += ch.len;
  }
  if (cps.empty()) chars.fail("the saved vocabulary is empty");
  for (size_t i = 1; i < cps.size(); ++i)
    if (cps[i - 1] >= cps[i])
      chars.fail("the saved characters are not in increasing code-point order");
  for (size_t i = 0; i < h.specials.size(); ++i)
    if (h.specials[i].second != int32_t(cps.size() + i))
      h.config.at("special_tokens")
          .fail("the special tokens' ids do not follow the " + std::to_string(cps.size()) +
                " characters");
  h.config.check_all_read();
  restore_specials(h);
  set_vocabulary(std::move(cps));
}

}  // namespace kiln::tokenizers
