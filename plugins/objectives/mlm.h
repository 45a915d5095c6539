// Masked language modelling (BERT, RoBERTa): the inputs are masked (masking.h: 15% of tokens,
// 80/10/10, static or dynamic, whole words optionally) and the model predicts the original
// tokens where they were selected. The loss is the mean cross-entropy over the selected
// tokens; "mlm_accuracy" is reported beside it.
//
// An EncoderModel is run as encode() and its MLM head on the selected positions only; any
// other model's forward() logits are scored at those positions. Rows are whole windows of the
// dataset (the batch's targets are not read); [PAD] keys, where the inputs hold any, are
// masked through ForwardState::key_padding.
//
// With masking = "given" the batch arrives masked (as BERT's create_pretraining_data.py writes
// its static instances, or a fixed test batch): the inputs are read as they are and the
// targets hold the original token at each selected position and -100 elsewhere. Nothing is
// drawn and no mask token is needed.
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {

class MaskedLM : public train::Objective {
 public:
  /// given: the batch is masked already (inputs corrupted, targets the labels).
  MaskedLM(MlmOptions options, bool fixed, bool given = false)
      : masker_(options, fixed), given_(given) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  const Masker& masker() const { return masker_; }

 private:
  /// The batch's own masking (masking = "given"): labels from its targets.
  MaskedBatch given_masking(const data::Batch& batch, const std::vector<int32_t>& tokens) const;

  Masker masker_;
  bool given_;
  std::optional<int32_t> pad_;
};

/// Sets state.key_padding (true where a token is not `pad`) when some input is `pad`.
void set_key_padding(nn::ForwardState& state, std::span<const int32_t> tokens, int64_t rows,
                     int64_t cols, std::optional<int32_t> pad, Device device);

}  // namespace kiln::objectives
