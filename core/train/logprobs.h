// Log-probabilities of responses under a model: the policy's forward on a batch and the
// log-probability of each row's response (its tokens whose target is not -100), per token or
// summed. The post-training objectives (plugins/objectives) and `kiln data reference-logps`
// compute them the same way.
#pragma once

#include "core/data/dataset.h"
#include "core/nn/model.h"

namespace kiln::train {

/// The model's logits [B, T, V] for batch.inputs, with batch.positions and batch.segment_ids
/// given to the model through `state` (packed documents attend only within themselves).
/// `who` names the objective in errors. batch.targets must be defined and match the inputs.
Tensor policy_logits(nn::Model& model, const data::Batch& batch, nn::ForwardState& state,
                     const char* who);

/// Per-token log-probabilities of the targets, [B, T], 0 where the target is -100;
/// differentiable, in the loss's dtype (f32 for bf16/f16 logits). The per-token form is what
/// ppo and grpo need for ratios and KL.
Tensor token_logps(const Tensor& logits, const Tensor& targets);

struct SequenceLogps {
  Tensor sum;     ///< [B]: sum over the row's response tokens of log p(token | prefix)
  Tensor tokens;  ///< [B]: how many response tokens the row has (targets != -100), sum's dtype
};
/// TRL's get_batch_logps (trl/trainer/dpo_trainer.py): labels of -100 are masked, the per-token
/// log-probs summed per row; mean = sum / tokens is its average_log_prob form.
SequenceLogps sequence_logps(const Tensor& logits, const Tensor& targets);

}  // namespace kiln::train
