// Proximal policy optimisation for RLHF (Ziegler et al. 2019; Ouyang et al. 2022), as TRL's
// PPOTrainer (trl/trainer/ppo_trainer.py): rollouts of the policy are scored by the reward;
// a completion without EOS loses missing_eos_penalty; each completion token t earns
// -kl_coef kl_t, kl_t the policy's log-ratio to the reference (k1: logp - ref, or the k3
// estimate), and the last token also the score; advantages by GAE(gamma, lam) on the value
// head's values (whitened over the rollout), returns = advantages + values; the loss is the
// clipped policy surrogate plus vf_coef times the clipped value loss, each a mean over the
// completion tokens. kl_coef is fixed or adaptive (Ziegler's proportional controller: towards
// kl_target, mean summed KL of a completion, over kl_horizon samples). The model must be a
// value_head { model = ... }. Logged (besides RlObjective's): score (reward after the EOS
// penalty), kl (mean over completions of the summed per-token KL), non_score_reward
// (-kl_coef times it), rlhf_reward (score + non_score_reward), kl_coef, entropy,
// clip_fraction, value_clip_fraction, approx_kl, loss/policy, loss/value.
#pragma once

#include "plugins/objectives/rl.h"
#include "plugins/objectives/value_head.h"

namespace kiln::objectives {

struct PpoOptions {
  double kl_coef = 0.05;
  bool k3 = false;  ///< the per-token KL penalty's estimator: k1 (false) or k3
  bool adaptive_kl = false;
  double kl_target = 6.0;
  double kl_horizon = 10000;
  double gamma = 1.0;
  double lam = 0.95;
  double cliprange_value = 0.2;
  double vf_coef = 0.1;
  bool whiten_advantages = true;
  double missing_eos_penalty = 0.0;  ///< 0: none
};

/// Ziegler et al.'s adaptive KL coefficient: e = clip(kl / target - 1, -0.2, 0.2),
/// coef *= 1 + e n / horizon, for a rollout of n completions with mean summed KL `kl`.
double adaptive_kl_coef(double coef, double kl, double target, double horizon, int64_t n);

class Ppo : public RlObjective {
 public:
  Ppo(RlOptions rl, PpoOptions options, std::shared_ptr<train::Reward> reward);
  train::LossOutput loss(nn::Model& model, const std::vector<const Sample*>& samples,
                         nn::ForwardState& state) override;
  double kl_coef() const { return kl_coef_; }
  /// RlObjective's, and the adaptive KL coefficient.
  Config state() const override;
  void load_state(const Config& state) override;

 protected:
  void policy_pass(nn::Model& model, const Rows& rows, std::vector<Sample>& samples) override;
  void advantages(std::vector<Sample>& samples, std::map<std::string, double>& metrics) override;

 private:
  PpoOptions p_;
  double kl_coef_;
};

/// The model as a value head, or an error saying how to wrap it.
ValueHead& as_value_head(nn::Model& model);

}  // namespace kiln::objectives
