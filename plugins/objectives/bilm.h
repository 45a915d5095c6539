// The biLM objective (ELMo, Peters et al. 2018): a forward LM (position t predicts token t + 1)
// and a backward LM (position t predicts token t - 1) over the same tokens; the loss is the
// mean of the two directions' mean cross-entropies, as bilm-tf trains them. Reported:
// forward_loss and backward_loss. Forward targets are the batch's (-100 skipped); a backward
// target that crosses a document boundary (batch.segment_ids) is skipped likewise.
#pragma once

#include "core/train/objective.h"

namespace kiln::objectives {

class BiLMObjective : public train::Objective {
 public:
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
};

}  // namespace kiln::objectives
