// Reward modelling with the Bradley-Terry loss, as TRL's RewardTrainer
// (trl/trainer/reward_trainer.py): loss = -log sigma(r_c - r_r), mean over pairs, with r the
// model's scalar read at each row's last response token (TRL's sequence-classification head
// reads the last non-pad token). The model must give one output per position ([B, T, 1]:
// a scalar head, such as `scalar_head { model = ... }`). Rows hold the whole sequence as
// inputs, so the last response token sits one past the last target that is not -100.
// Logged: accuracy (r_c > r_r), rewards/chosen, rewards/rejected, rewards/margins.
#pragma once

#include <vector>

#include "plugins/objectives/logprobs.h"

namespace kiln::objectives {

/// The position of each row's last response token: one past its last target that is not
/// -100 (clamped to the row), or the last position of a row with none.
std::vector<int64_t> last_response_positions(const Tensor& targets);

class RewardModelObjective : public train::Objective {
 public:
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // a Bradley-Terry loss
  /// The scalar reward of each row [B] (differentiable).
  static Tensor rewards(nn::Model& model, const data::Batch& batch, nn::ForwardState& state);
};

}  // namespace kiln::objectives
