#include "plugins/rewards/token_set.h"

#include "core/base/error.h"

namespace kiln::rewards {

TokenSetReward::TokenSetReward(std::vector<int32_t> ids, std::string text)
    : set_(ids.begin(), ids.end()), text_(std::move(text)) {
  KILN_CHECK(!set_.empty() || !text_.empty(),
             "token_set: the target set is empty; give ids and/or text");
}

void TokenSetReward::prepare(const train::RewardContext& context) {
  if (context.tokenizer) eos_ = context.tokenizer->eos_id();
  if (text_.empty()) return;
  KILN_CHECK(context.tokenizer, "token_set: the target text \"", text_,
             "\" needs a tokenizer to be read; the data has none (give ids instead)");
  for (int32_t id : context.tokenizer->encode(text_, false)) set_.insert(id);
}

std::vector<double> TokenSetReward::score(const std::vector<std::vector<int32_t>>& prompts,
                                          const std::vector<std::vector<int32_t>>& completions) {
  KILN_CHECK(prompts.size() == completions.size(), "token_set: ", prompts.size(), " prompts for ",
             completions.size(), " completions");
  std::vector<double> out;
  out.reserve(completions.size());
  for (const std::vector<int32_t>& c : completions) {
    size_t n = c.size();
    if (n > 0 && eos_ && c.back() == *eos_) --n;
    size_t hits = 0;
    for (size_t i = 0; i < n; ++i) hits += set_.count(c[i]);
    out.push_back(n > 0 ? double(hits) / double(n) : 0.0);
  }
  return out;
}

}  // namespace kiln::rewards
