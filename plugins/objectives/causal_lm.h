// Causal language modelling: predict each next token. The loss is the mean cross-entropy of
// the model's logits against the targets, skipping targets equal to -100 (padding, prompts,
// document boundaries that a dataset masks).
#pragma once

#include "core/train/objective.h"

namespace kiln::objectives {

struct CausalLMOptions {
  double label_smoothing = 0.0;
};

/// With batch.targets defined (the datasets' contract: targets already shifted, [B, T]) the
/// logits at position t are scored against targets[t]. Without targets the objective shifts
/// the inputs itself: logits[:, t] against inputs[:, t + 1], T - 1 positions per row.
/// batch.positions and batch.segment_ids go to the model through the ForwardState, so packed
/// documents keep their own positions and attend only within themselves.
class CausalLM : public train::Objective {
 public:
  explicit CausalLM(CausalLMOptions options = {}) : options_(options) {}
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;

 private:
  CausalLMOptions options_;
};

}  // namespace kiln::objectives
