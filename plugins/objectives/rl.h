// What ppo and grpo share: the RL math on plain values and tensors (GAE, group-normalised
// advantages, whitening, the k3 KL estimator, PPO's clipped policy and value losses, masked
// reductions), the rollout samples and their collation into rows, and RlObjective, the
// rollout buffer both objectives are built on.
//
// A rollout: the batch's prompts (Batch::prompt_lengths), each repeated copies() times (grpo's
// group), continued by generation::generate (KV-cached, batched; one Generator seeded from the
// run's seed draws every rollout), scored by the reward component, then under NoGrad the
// policy's log-probs ("old"), the reference's (the starting policy) and the objective's
// advantages. The rollout is then cut into `minibatches` parts per epoch (rows shuffled each
// epoch), and every compute() call returns the loss of the next part: the trainer makes one
// optimizer step per call (grad_accum > 1 accumulates consecutive parts). While the buffer
// holds parts the objective wants no batch, and the trainer draws none: every prompt drawn is
// rolled out.
//
// Rows are prompt + completion, right-padded; targets are the completion's tokens (EOS
// included when generated), -100 elsewhere, so the position that predicts completion token j
// is prompt_len - 1 + j. Log-probs are of logits / temperature, the distribution the tokens
// were drawn from (as TRL).
//
// Under NoGrad (the trainer's evaluate()) compute() generates from the batch's prompts with a
// generator seeded afresh each time (the same draws every evaluation) and returns minus the
// mean reward as the loss; the buffer is not touched.
#pragma once

#include <chrono>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/tensor/random.h"
#include "core/train/reward.h"
#include "plugins/objectives/logprobs.h"

namespace kiln::objectives {

// ---- the math ---------------------------------------------------------------------------

/// Generalised advantage estimation (Schulman et al. 2016) over one sequence of n steps:
/// delta_t = r_t + gamma V_{t+1} - V_t with V_n = 0 (nothing after the last token),
/// A_t = delta_t + gamma lam A_{t+1}. rewards and values have n entries each.
std::vector<double> gae(const std::vector<double>& rewards, const std::vector<double>& values,
                        double gamma, double lam);

enum class ScaleRewards { group, batch, none };
/// GRPO's advantages: A_i = r_i - mean of its group (rewards hold consecutive groups of
/// `group`), divided by the group's standard deviation (Bessel-corrected, + 1e-4 as TRL) for
/// `group`, by the whole batch's for `batch`, not at all for `none`.
std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t group,
                                     ScaleRewards scale);

/// TRL's masked_whiten over every entry of every row: (x - mean) / sqrt(var + 1e-8) with the
/// unbiased variance; shift_mean = false adds the mean back.
void whiten(std::vector<std::vector<double>>& x, bool shift_mean = true);

/// The k3 estimator of KL(pi || ref) per token (Schulman 2020): exp(ref - logp) - (ref - logp)
/// - 1, >= 0, differentiable in logp.
Tensor kl_k3(const Tensor& logp, const Tensor& ref_logp);

struct ClippedLoss {
  Tensor per_token;  ///< the loss per token (differentiable), 0 where mask is 0
  Tensor clipped;    ///< 1 where the clipped branch is the larger (the gradient is cut), else 0
};
/// PPO's clipped surrogate per token: max(-A r, -A clip(r, 1 - eps_low, 1 + eps_high)),
/// r = exp(logp - old_logp). Multiplied by mask.
ClippedLoss clipped_policy_loss(const Tensor& logp, const Tensor& old_logp, const Tensor& adv,
                                const Tensor& mask, double eps_low, double eps_high);
/// PPO's clipped value loss per token: 0.5 max((v - R)^2, (v_old + clip(v - v_old, -c, c) -
/// R)^2). Multiplied by mask.
ClippedLoss clipped_value_loss(const Tensor& values, const Tensor& old_values,
                               const Tensor& returns, const Tensor& mask, double clip);

/// How a per-token loss becomes one number: token: sum over every completion token / their
/// number (DAPO, TRL's "bnpo"); sequence: each row's mean over its tokens, then the mean
/// over rows (the original GRPO); constant: sum / (rows * max_tokens) (Dr. GRPO).
enum class LossNorm { token, sequence, constant };
Tensor reduce_loss(const Tensor& per_token, const Tensor& mask, LossNorm norm, int64_t max_tokens);
/// sum(x * mask) / sum(mask) as a number (metrics); 0 without tokens.
double masked_mean(const Tensor& x, const Tensor& mask);

// ---- rollouts ---------------------------------------------------------------------------

struct Sample {
  std::vector<int32_t> prompt, completion;
  bool eos = false;   ///< the completion ended with the EOS token
  double reward = 0;  ///< the reward component's score
  /// Per completion token: the sampling policy's log-probs, the reference's, (ppo) the value
  /// before the token, the advantage and the return.
  std::vector<double> old_logps, ref_logps, values, advantages, returns;
};

/// Samples as rows: inputs (right-padded with `pad`), targets (completion tokens), and the
/// mask (1 at the positions that predict a completion token) in `dtype`.
struct Rows {
  data::Batch batch;
  Tensor mask;  ///< [n, L]
  int64_t tokens = 0;
};
Rows collate_samples(const std::vector<const Sample*>& samples, int32_t pad, DType dtype);
/// A per-completion-token field of the samples laid out as rows [n, L] (0 elsewhere).
Tensor per_token(const std::vector<const Sample*>& samples, std::vector<double> Sample::*field,
                 int64_t L, DType dtype);
/// Log-probs [B, T] of the targets under logits / temperature (temperature <= 0: 1).
Tensor completion_logps(const Tensor& logits, const Tensor& targets, double temperature);
/// Mean per-token entropy of softmax(logits / temperature) over the mask (a metric).
double mean_entropy(const Tensor& logits, const Tensor& mask, double temperature);
/// Row b's prompt: inputs[b, :prompt_lengths[b]]; `who` names the objective in errors.
std::vector<std::vector<int32_t>> batch_prompts(const data::Batch& batch, const char* who);

struct RlOptions {
  // generation
  int64_t max_tokens = 53;
  double temperature = 0.7;
  int64_t top_k = 0;
  double top_p = 1.0;
  bool kv_cache = true;
  /// The token that ends a completion; unset: the tokenizer's EOS (none: completions run to
  /// max_tokens).
  std::optional<int32_t> eos;
  // optimisation
  int64_t epochs = 4;       ///< passes over each rollout
  int64_t minibatches = 1;  ///< parts of a rollout per pass (an optimizer step each)
  double cliprange = 0.2;
  double cliprange_high = -1;  ///< < 0: cliprange (symmetric)
};

class RlObjective : public train::Objective {
 public:
  RlObjective(RlOptions options, std::shared_ptr<train::Reward> reward, const char* name);
  /// Takes the reference snapshot, seeds the rollout generator from the run's seed, prepares
  /// the reward and finds the EOS token.
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // a policy-gradient loss
  bool wants_batch() const override { return queue_.empty(); }  // prompts for a new rollout
  /// The rollout sampler's state and, while minibatches of it are left, the rollout itself
  /// (samples, the minibatches to come, its metrics): a resumed run continues exactly.
  Config state() const override;
  void load_state(const Config& state) override;

  /// Generates and scores a rollout of the prompts (each repeated copies() times), with old
  /// and reference log-probs and advantages filled in; what compute() does when its buffer
  /// is empty. Public for tests.
  std::vector<Sample> rollout(nn::Model& model, const std::vector<std::vector<int32_t>>& prompts);
  /// The loss on some samples of a rollout (one minibatch), differentiable in the model.
  virtual train::LossOutput loss(nn::Model& model, const std::vector<const Sample*>& samples,
                                 nn::ForwardState& state) = 0;
  const RlOptions& options() const { return o_; }
  ReferencePolicy& reference() { return reference_; }

 protected:
  /// Completions per prompt (grpo: the group size).
  virtual int64_t copies() const { return 1; }
  /// The policy's pass over the rollout under NoGrad: fills old_logps (ppo also its values).
  virtual void policy_pass(nn::Model& model, const Rows& rows, std::vector<Sample>& samples);
  /// Fills advantages (and returns) of a scored rollout; adds rollout metrics.
  virtual void advantages(std::vector<Sample>& samples, std::map<std::string, double>& metrics) = 0;
  /// Pads rows; the pad id is any valid id (masked out).
  int32_t pad() const { return o_.eos.value_or(0); }
  double temperature() const { return o_.temperature > 0 ? o_.temperature : 1.0; }

  RlOptions o_;
  std::shared_ptr<train::Reward> reward_;
  const char* name_;
  ReferencePolicy reference_;
  Generator generator_;
  uint64_t seed_ = 0;

 private:
  std::vector<Sample> buffer_;
  std::deque<std::vector<size_t>> queue_;  // the minibatches left, as indices into buffer_
  std::map<std::string, double> rollout_metrics_;
  std::optional<std::chrono::steady_clock::time_point> rollout_end_;
};

}  // namespace kiln::objectives
