// The reward_model reward: a trained reward model (a run of the reward_model objective, a
// scalar_head model) scores prompt + completion by its output at the completion's last token
// (the last prompt token for an empty completion), as TRL's get_reward reads the sequence
// classifier at the last non-pad token. The run is loaded at prepare() (its latest checkpoint,
// or `step`); its tokenizer must be the policy's (the ids are read as they are). Rows are
// scored `batch` at a time, right-padded, under NoGrad in eval mode.
#pragma once

#include <memory>
#include <string>

#include "core/nn/model.h"
#include "core/train/reward.h"

namespace kiln::rewards {

class ModelReward : public train::Reward {
 public:
  ModelReward(std::string run, int64_t step, int64_t batch);
  /// Uses this model instead of loading a run (tests).
  explicit ModelReward(std::shared_ptr<nn::Model> model, int64_t batch = 16);
  void prepare(const train::RewardContext& context) override;
  std::vector<double> score(const std::vector<std::vector<int32_t>>& prompts,
                            const std::vector<std::vector<int32_t>>& completions) override;

 private:
  std::string run_;
  int64_t step_ = -1, batch_ = 16;
  std::shared_ptr<nn::Model> model_;
};

}  // namespace kiln::rewards
