// Special tokens ("<|endoftext|>"): strings that, when parsing of special tokens is asked for,
// become one id each instead of being tokenised as text. Shared by every tokenizer here.
#pragma once

#include <array>
#include <cstdint>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace kiln::tokenizers {

class SpecialTokens {
 public:
  /// Adds a token; throws when the text is empty or either the text or the id is taken.
  void add(const std::string& text, int32_t id);
  bool empty() const { return by_text_.empty(); }
  size_t size() const { return by_text_.size(); }
  std::optional<int32_t> id_of(std::string_view text) const;
  /// The text of a special id, or nullptr when the id is not special.
  const std::string* text_of(int32_t id) const;
  const std::map<std::string, int32_t>& map() const { return by_text_; }

  /// Splits text at special tokens (the longest one wins where several start at a position),
  /// calling on_text(std::string_view) for each stretch of ordinary text (never empty) and
  /// on_special(int32_t id) for each special token, in order.
  template <class T, class S>
  void split(std::string_view text, T&& on_text, S&& on_special) const {
    size_t start = 0;
    for (size_t i = 0; i < text.size();) {
      if (!first_byte_[static_cast<unsigned char>(text[i])]) {
        ++i;
        continue;
      }
      const Entry* hit = nullptr;
      for (const Entry& e : longest_first_)
        if (e.text.size() <= text.size() - i &&
            std::memcmp(text.data() + i, e.text.data(), e.text.size()) == 0) {
          hit = &e;
          break;
        }
      if (!hit) {
        ++i;
        continue;
      }
      if (i > start) on_text(text.substr(start, i - start));
      on_special(hit->id);
      i += hit->text.size();
      start = i;
    }
    if (start < text.size()) on_text(text.substr(start));
  }

 private:
  struct Entry {
    std::string text;
    int32_t id;
  };
  std::map<std::string, int32_t> by_text_;
  std::unordered_map<int32_t, std::string> by_id_;
  std::vector<Entry> longest_first_;
  std::array<bool, 256> first_byte_{};
};

/// The end-of-text id: the special token named `eos` when given (it must be one of them), else
/// "<|endoftext|>" when it is one of them, else none.
std::optional<int32_t> pick_eos(const SpecialTokens& specials,
                                const std::optional<std::string>& eos,
                                const std::string& tokenizer);

}  // namespace kiln::tokenizers
