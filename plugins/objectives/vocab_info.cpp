#include "plugins/objectives/vocab_info.h"

#include <map>

#include "core/base/error.h"

namespace kiln::objectives {
namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

}  // namespace

VocabInfo VocabInfo::from(const data::Tokenizer& tokenizer, const std::string& sentence_end_chars) {
  VocabInfo v;
  v.size = tokenizer.vocab_size();
  const size_t n = size_t(v.size);
  v.special.assign(n, 0);
  v.begins_space.assign(n, 0);
  v.ends_space.assign(n, 0);
  v.sentence_end.assign(n, 0);
  for (const auto& [text, id] : tokenizer.special_tokens())
    if (id >= 0 && size_t(id) < n) v.special[size_t(id)] = 1;
  for (size_t id = 0; id < n; ++id) {
    if (v.special[id]) continue;
    std::string b;
    try {
      b = tokenizer.token_bytes(int32_t(id));
    } catch (const Error&) {
      v.special[id] = 1;  // an id the tokenizer cannot spell (a gap): never used as text
      continue;
    }
    if (b.empty()) continue;
    v.begins_space[id] = is_space(b.front());
    v.ends_space[id] = is_space(b.back());
    size_t last = b.size();
    while (last > 0 && is_space(b[last - 1])) --last;
    v.sentence_end[id] = last > 0 && sentence_end_chars.find(b[last - 1]) != std::string::npos;
  }
  return v;
}

std::vector<uint8_t> VocabInfo::candidates(std::span<const int32_t> ids) const {
  std::vector<uint8_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) out[i] = !is_special(ids[i]);
  return out;
}

std::vector<uint8_t> VocabInfo::word_starts(std::span<const int32_t> ids) const {
  std::vector<uint8_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i) {
    const int32_t id = ids[i];
    if (i == 0 || is_special(id) || is_special(ids[i - 1])) {
      out[i] = 1;
      continue;
    }
    out[i] = begins_space[size_t(id)] || ends_space[size_t(ids[i - 1])];
  }
  return out;
}

std::vector<uint8_t> VocabInfo::sentence_ends(std::span<const int32_t> ids) const {
  std::vector<uint8_t> out(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    out[i] = !is_special(ids[i]) && sentence_end[size_t(ids[i])];
  return out;
}

int32_t require_special(const data::Tokenizer* tokenizer, const std::string& objective,
                        const std::string& role) {
  static const std::map<std::string, std::string> kTexts = {{"mask", "[MASK] or <mask>"},
                                                            {"pad", "[PAD] or <pad>"},
                                                            {"cls", "[CLS] or <s>"},
                                                            {"sep", "[SEP] or </s>"},
                                                            {"eos", "</s> or <|endoftext|>"}};
  KILN_CHECK(tokenizer, objective, ": the data has no tokenizer, so there is no ", role,
             " token to corrupt the text with");
  if (auto id = tokenizer->special_id(role)) return *id;
  auto it = kTexts.find(role);
  KILN_FAIL(objective, ": the tokenizer has no ", role, " token",
            it != kTexts.end() ? " (" + it->second + ")" : std::string(),
            ": add one to its special_tokens");
}

std::vector<int32_t> sentinel_ids(const data::Tokenizer& tokenizer) {
  std::vector<int32_t> out;
  for (int i = 0;; ++i) {
    auto id = tokenizer.special_id("<extra_id_" + std::to_string(i) + ">");
    if (!id) break;
    out.push_back(*id);
  }
  return out;
}

}  // namespace kiln::objectives
