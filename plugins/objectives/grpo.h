// Group relative policy optimisation (Shao et al. 2024, DeepSeekMath), as TRL's GRPOTrainer
// (trl/trainer/grpo_trainer.py): each prompt gets G completions; a completion's advantage is
// its reward minus its group's mean, divided by the group's standard deviation (or the
// batch's, or not at all: scale_rewards); the loss per completion token is PPO's clipped
// surrogate of the ratio pi / pi_old with that advantage, plus beta times the k3 estimate of
// KL(pi || ref) against the starting policy; tokens are averaged as loss_norm says. No value
// function. The rollout machinery (generation, reward, minibatches, epochs) is RlObjective's.
// Logged (besides RlObjective's reward, reward_std, completion_length, eos_fraction, time/*):
// kl (mean per-token k3), clip_fraction, entropy, loss/policy, reward_std_zero (the fraction
// of groups whose rewards are all equal: no signal).
#pragma once

#include "plugins/objectives/rl.h"

namespace kiln::objectives {

struct GrpoOptions {
  int64_t group = 8;  ///< completions per prompt (TRL's num_generations)
  double beta = 0.04;
  ScaleRewards scale = ScaleRewards::group;
  LossNorm norm = LossNorm::token;
};

class Grpo : public RlObjective {
 public:
  Grpo(RlOptions rl, GrpoOptions options, std::shared_ptr<train::Reward> reward);
  train::LossOutput loss(nn::Model& model, const std::vector<const Sample*>& samples,
                         nn::ForwardState& state) override;

 protected:
  int64_t copies() const override { return g_.group; }
  void advantages(std::vector<Sample>& samples, std::map<std::string, double>& metrics) override;

 private:
  GrpoOptions g_;
};

}  // namespace kiln::objectives
