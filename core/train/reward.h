// Rewards: the "reward" component kind, a score for each completion of a prompt, for the RL
// objectives (ppo, grpo). A reward is a rule (a function of the tokens, such as the fraction
// of them in a target set) or a model (a trained reward model scoring prompt + completion).
// Objectives take one as a nested component: grpo { reward = token_set { ... } }.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "core/data/tokenizer.h"

namespace kiln::train {

/// What a reward may read once, before the first score().
struct RewardContext {
  /// The data's tokenizer (to read text, or to encode a target set given as text); null when
  /// the data has none.
  std::shared_ptr<const data::Tokenizer> tokenizer;
  uint64_t seed = 0;  ///< the run's seed
};

class Reward {
 public:
  virtual ~Reward();
  /// Called once before the first score() (the objective's prepare() calls it); throws with a
  /// message naming what is missing (a tokenizer to encode text, ...). The default does nothing.
  virtual void prepare(const RewardContext& context) {}
  /// One score per completion: completions[i] continues prompts[i] (both token ids, without
  /// padding; a completion that ended at the end-of-text token holds it as its last token).
  virtual std::vector<double> score(const std::vector<std::vector<int32_t>>& prompts,
                                    const std::vector<std::vector<int32_t>>& completions) = 0;
};

}  // namespace kiln::train
