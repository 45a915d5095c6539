#include "plugins/tokenizers/special_tokens.h"

#include <algorithm>

#include "core/base/error.h"

namespace kiln::tokenizers {

void SpecialTokens::add(const std::string& text, int32_t id) {
  KILN_CHECK(!text.empty(), "special tokens: a special token cannot be the empty string");
  KILN_CHECK(!by_text_.count(text), "special tokens: \"", text, "\" is listed twice");
  KILN_CHECK(!by_id_.count(id), "special tokens: id ", id, " is given to both \"", by_id_.at(id),
             "\" and \"", text, "\"");
  by_text_[text] = id;
  by_id_[id] = text;
  longest_first_.push_back({text, id});
  std::stable_sort(longest_first_.begin(), longest_first_.end(),
                   [](const Entry& a, const Entry& b) { return a.text.size() > b.text.size(); });
  first_byte_[static_cast<unsigned char>(text[0])] = true;
}

std::optional<int32_t> SpecialTokens::id_of(std::string_view text) const {
  auto it = by_text_.find(std::string(text));
  if (it == by_text_.end()) return std::nullopt;
  return it->second;
}

const std::string* SpecialTokens::text_of(int32_t id) const {
  auto it = by_id_.find(id);
  return it == by_id_.end() ? nullptr : &it->second;
}

std::optional<int32_t> pick_eos(const SpecialTokens& specials,
                                const std::optional<std::string>& eos,
                                const std::string& tokenizer) {
  if (eos) {
    auto id = specials.id_of(*eos);
    if (!id) {
      std::string names;
      for (const auto& [t, i] : specials.map()) names += (names.empty() ? "\"" : ", \"") + t + "\"";
      KILN_FAIL(tokenizer, " tokenizer: eos = \"", *eos, "\" is not one of the special tokens (",
                names.empty() ? "there are none" : names, "); add it to special_tokens");
    }
    return id;
  }
  return specials.id_of("<|endoftext|>");
}

}  // namespace kiln::tokenizers
