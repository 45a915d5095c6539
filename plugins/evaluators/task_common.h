// What the evaluators made of tasks (MMLU, BBH, AGIEval) share: the run's tokenizer, the
// prompt's prefix token, `kiln eval --limit` on top of their own limit, and accuracies.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/base/error.h"
#include "core/eval/evaluator.h"

namespace kiln::evaluators {

/// The tokenizer the prompts are written with: the context's, else its dataset's. Throws naming
/// the evaluator when there is none.
inline std::shared_ptr<data::Tokenizer> prompt_tokenizer(const eval::EvalContext& ctx,
                                                         const std::string& name) {
  std::shared_ptr<data::Tokenizer> tokenizer = ctx.tokenizer;
  if (!tokenizer && ctx.dataset) tokenizer = ctx.dataset->tokenizer();
  KILN_CHECK(tokenizer, name, ": the run has no tokenizer to write the prompts with");
  return tokenizer;
}

/// The token a prompt starts with for `bos` = "bos": the tokenizer's BOS, else its EOS (as
/// lm-evaluation-harness's prefix token); none for "none". Throws when "bos" finds neither.
inline std::optional<int32_t> prompt_prefix(const data::Tokenizer& tokenizer,
                                            const std::string& bos, const std::string& name) {
  if (bos != "bos") return std::nullopt;
  std::optional<int32_t> id = tokenizer.special_id("bos");
  if (!id) id = tokenizer.eos_id();
  KILN_CHECK(id, name, ": bos = \"bos\" but the tokenizer has neither a BOS nor an EOS token");
  return id;
}

/// The examples per task to score: the smaller of the evaluator's own limit and
/// `kiln eval --limit` (either may be absent).
inline std::optional<int64_t> task_limit(std::optional<int64_t> own, std::optional<int64_t> cli) {
  if (!cli) return own;
  return std::min(own.value_or(*cli), *cli);
}

/// correct / total; 0 when there is nothing to count.
inline double ratio(int64_t correct, int64_t total) {
  return total > 0 ? double(correct) / double(total) : 0.0;
}

}  // namespace kiln::evaluators
