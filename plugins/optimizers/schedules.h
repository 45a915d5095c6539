// Learning-rate schedules: multipliers of the base lr at update t = 0, 1, 2, ... (see
// core/train/schedule.h). Warmup is linear and never wastes an update at lr 0: the
// multiplier at step t < warmup is (t + 1) / warmup, reaching 1 at t = warmup - 1. After
// `total` steps, decaying schedules stay at their floor, min_ratio.
#pragma once

#include <cstdint>

#include "core/train/schedule.h"

namespace kiln::optimizers {

/// 1 at every step.
class ConstantSchedule : public train::Schedule {
 public:
  double multiplier(int64_t step) const override;
};

/// (t + 1) / warmup for t < warmup, then 1.
class LinearWarmupSchedule : public train::Schedule {
 public:
  explicit LinearWarmupSchedule(int64_t warmup);
  double multiplier(int64_t step) const override;

 private:
  int64_t warmup_;
};

/// Warmup, then a half cosine from 1 down to min_ratio over steps [warmup, total):
/// min_ratio + (1 - min_ratio) * (1 + cos(pi * (t - warmup) / (total - warmup))) / 2.
class CosineSchedule : public train::Schedule {
 public:
  CosineSchedule(int64_t warmup, int64_t total, double min_ratio = 0.0);
  double multiplier(int64_t step) const override;

 private:
  int64_t warmup_, total_;
  double min_ratio_;
};

/// Warmup, then a straight line from 1 down to min_ratio over steps [warmup, total):
/// 1 - (1 - min_ratio) * (t - warmup) / (total - warmup).
class LinearDecaySchedule : public train::Schedule {
 public:
  LinearDecaySchedule(int64_t warmup, int64_t total, double min_ratio = 0.0);
  double multiplier(int64_t step) const override;

 private:
  int64_t warmup_, total_;
  double min_ratio_;
};

/// Warmup-stable-decay (Hu et al., MiniCPM, 2024): warmup, then 1, then a linear decay to
/// min_ratio over the last decay_fraction of the total steps: with decay_start = total -
/// round(decay_fraction * total), steps [decay_start, total) go 1 - (1 - min_ratio) *
/// (t - decay_start) / (total - decay_start).
class WarmupStableDecaySchedule : public train::Schedule {
 public:
  WarmupStableDecaySchedule(int64_t warmup, int64_t total, double decay_fraction = 0.2,
                            double min_ratio = 0.0);
  double multiplier(int64_t step) const override;
  int64_t decay_start() const { return decay_start_; }

 private:
  int64_t warmup_, total_, decay_start_;
  double min_ratio_;
};

}  // namespace kiln::optimizers
