// Direct preference optimisation (Rafailov et al. 2023) and its variants, as TRL's DPOTrainer
// defines them (trl/trainer/dpo_trainer.py, dpo_loss):
//   h = (log pi(y_c|x) - log pi_ref(y_c|x)) - (log pi(y_r|x) - log pi_ref(y_r|x))
//   sigmoid: -log sigma(beta h) (1 - eps) - log sigma(-beta h) eps   (eps: label smoothing,
//            conservative DPO, Mitchell 2023; eps = 0 is DPO)
//   ipo:     (h - 1 / (2 beta))^2 with length-averaged log-probs (Azar et al. 2023; TRL
//            divides the summed log-probs by the response length for ipo)
// log-probs are summed over the response tokens. The reference is the starting policy (a
// frozen copy, see ReferencePolicy) or the batch's stored reference_logps.
// Logged as TRL names them: rewards/chosen = beta (log pi(y_c) - log pi_ref(y_c)), likewise
// rewards/rejected, rewards/margins (their difference), rewards/accuracies (chosen > rejected),
// logps/chosen, logps/rejected (the policy's), each a mean over the pairs.
#pragma once

#include "plugins/objectives/logprobs.h"

namespace kiln::objectives {

enum class DpoLoss { sigmoid, ipo };

struct DpoOptions {
  double beta = 0.1;
  DpoLoss loss = DpoLoss::sigmoid;
  double label_smoothing = 0.0;
  /// false: the batches carry reference_logps (stored with the data); no snapshot is kept.
  bool reference_model = true;
};

class Dpo : public train::Objective {
 public:
  explicit Dpo(DpoOptions options = {}) : options_(options) {}
  /// Takes the reference snapshot of context.model (when there is one and the options ask for
  /// a reference model).
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // a preference loss
  /// The reference's summed log-probs of each row [2 pairs] (what a run stores on disk).
  Tensor reference_logps(nn::Model& model, const data::Batch& batch);
  ReferencePolicy& reference() { return reference_; }

 private:
  DpoOptions options_;
  ReferencePolicy reference_;
};

}  // namespace kiln::objectives
