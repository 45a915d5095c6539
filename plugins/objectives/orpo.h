// Odds-ratio preference optimisation (Hong et al. 2024), as TRL's ORPOTrainer defines it
// (trl/trainer/orpo_trainer.py, odds_ratio_loss), with no reference model:
//   log odds(y) = log p - log(1 - p),  p = exp(mean log-prob of y's tokens)
//   loss = NLL(y_c) + lambda * (-log sigma(log odds(y_c) - log odds(y_r)))
// NLL(y_c) is the mean cross-entropy over the chosen responses' tokens. Logged as TRL does:
// rewards/chosen = lambda * mean log-prob of y_c (likewise rejected), rewards/margins,
// rewards/accuracies, logps/chosen, logps/rejected (length-averaged), nll_loss,
// log_odds_ratio (the mean of log sigma(...)) and log_odds_chosen (the mean log odds ratio).
#pragma once

#include "plugins/objectives/logprobs.h"

namespace kiln::objectives {

class Orpo : public train::Objective {
 public:
  explicit Orpo(double lambda = 0.1) : lambda_(lambda) {}
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // NLL plus the odds-ratio term

 private:
  double lambda_;
};

}  // namespace kiln::objectives
