// Masked language modelling (BERT, RoBERTa): the inputs are masked (masking.h: 15% of tokens,
// 80/10/10, static or dynamic, whole words optionally) and the model predicts the original
// tokens where they were selected. The loss is the mean cross-entropy over the selected
// tokens; "mlm_accuracy" is reported beside it.
//
// An EncoderModel is run as encode() and its MLM head on the selected positions only; any
// other model's forward() logits are scored at those positions. Rows are whole windows of the
// dataset (the batch's targets are not read); [PAD] keys, where the inputs hold any, are
// masked through ForwardState::key_padding.
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {

class MaskedLM : public train::Objective {
 public:
  MaskedLM(MlmOptions options, bool fixed) : masker_(options, fixed) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  const Masker& masker() const { return masker_; }

 private:
  Masker masker_;
  std::optional<int32_t> pad_;
};

/// Sets state.key_padding (true where a token is not `pad`) when some input is `pad`.
void set_key_padding(nn::ForwardState& state, std::span<const int32_t> tokens, int64_t rows,
                     int64_t cols, std::optional<int32_t> pad, Device device);

}  // namespace kiln::objectives
