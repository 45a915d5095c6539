// What the post-training objectives share: the policy's forward and response log-probs
// (core/train/logprobs.h, which `kiln data reference-logps` uses too), preference batches
// split into their chosen and rejected halves, and the frozen reference policy. dpo, orpo and reward_model use them
// here; ppo and grpo (per-token KL to the reference) are meant to reuse them.
#pragma once

#include <string>

#include "core/nn/model.h"
#include "core/train/logprobs.h"
#include "core/train/objective.h"

namespace kiln::objectives {

using train::policy_logits;
using train::sequence_logps;
using train::SequenceLogps;
using train::token_logps;

/// Checks that a batch holds preference pairs (batch.pairs > 0, 2 * pairs rows) and returns
/// the number of pairs; `who` names the objective.
int64_t check_pairs(const data::Batch& batch, const char* who);

/// A frozen copy of the starting policy. It is held as a snapshot of the model's weights taken
/// at prepare() time (before a resumed run loads its checkpoint, so it is the starting
/// policy), and swapped into the model for the reference's forward under NoGrad in eval mode
/// (no dropout, as TRL's ref_model.eval()), then swapped back: one module tree serves both,
/// at the cost of copying the weights twice a step. Runs with stored reference log-probs
/// (Batch::reference_logps) never take the snapshot's forward.
class ReferencePolicy {
 public:
  void snapshot(const nn::Model& model);
  bool ready() const { return !weights_.empty(); }
  /// Summed response log-probs [B] of the reference, no gradient.
  SequenceLogps logps(nn::Model& model, const data::Batch& batch, const char* who);
  /// Per-token log-probs [B, T] of the targets under the reference's logits / temperature
  /// (0 where the target is -100), no gradient: ppo's and grpo's KL.
  Tensor token_logps(nn::Model& model, const data::Batch& batch, const char* who,
                     double temperature = 1.0);

 private:
  /// Runs fn(model) with the reference's weights in the model, in eval mode, under NoGrad,
  /// restoring the model's own weights and mode afterwards (also when fn throws).
  template <class Fn>
  auto with_reference(nn::Model& model, const char* who, Fn fn);
  nn::StateDict weights_;
};

}  // namespace kiln::objectives
