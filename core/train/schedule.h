// The Schedule interface: how the learning rate changes over training.
//
// A schedule gives a multiplier of the base learning rates, not an absolute lr (as PyTorch's
// LambdaLR): parameter groups with different lrs keep their ratio, and one schedule serves
// any optimizer. Steps count updates from 0: multiplier(t) scales the update that step() makes
// when t updates have already been made (t = Optimizer::steps() before the call).
//
// Concrete schedules (constant, warmup, cosine, linear, warmup-stable-decay) live in
// plugins/optimizers/schedules.h.
#pragma once

#include <cstdint>

#include "core/train/optimizer.h"

namespace kiln::train {

class Schedule {
 public:
  virtual ~Schedule() = default;
  /// The lr multiplier for the update made at step t (t >= 0).
  virtual double multiplier(int64_t step) const = 0;
};

/// Sets the optimizer's lrs for its next update: base lr * schedule.multiplier(steps()).
inline void apply_schedule(const Schedule& schedule, Optimizer& opt) {
  opt.set_lr_multiplier(schedule.multiplier(opt.steps()));
}

}  // namespace kiln::train
