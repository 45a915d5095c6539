#include "plugins/optimizers/schedules.h"

#include <cmath>

#include "core/base/error.h"

namespace kiln::optimizers {

namespace {

// The warmup factor at step t, or 1 past the warmup.
double warmup_factor(int64_t step, int64_t warmup) {
  return step < warmup ? double(step + 1) / double(warmup) : 1.0;
}

void check_common(const char* name, int64_t warmup, int64_t total, double min_ratio) {
  KILN_CHECK(warmup >= 0, name, ": warmup must be >= 0, got ", warmup);
  KILN_CHECK(total > warmup, name, ": total steps (", total, ") must exceed the warmup (", warmup,
             ")");
  KILN_CHECK(min_ratio >= 0 && min_ratio <= 1, name, ": min_ratio must be in [0, 1], got ",
             min_ratio);
}

void check_step(const char* name, int64_t step) {
  KILN_CHECK(step >= 0, name, ": step must be >= 0, got ", step);
}

}  // namespace

double ConstantSchedule::multiplier(int64_t step) const {
  check_step("ConstantSchedule", step);
  return 1.0;
}

LinearWarmupSchedule::LinearWarmupSchedule(int64_t warmup) : warmup_(warmup) {
  KILN_CHECK(warmup >= 0, "LinearWarmupSchedule: warmup must be >= 0, got ", warmup);
}

double LinearWarmupSchedule::multiplier(int64_t step) const {
  check_step("LinearWarmupSchedule", step);
  return warmup_factor(step, warmup_);
}

CosineSchedule::CosineSchedule(int64_t warmup, int64_t total, double min_ratio)
    : warmup_(warmup), total_(total), min_ratio_(min_ratio) {
  check_common("CosineSchedule", warmup, total, min_ratio);
}

double CosineSchedule::multiplier(int64_t step) const {
  check_step("CosineSchedule", step);
  if (step < warmup_) return warmup_factor(step, warmup_);
  if (step >= total_) return min_ratio_;
  double progress = double(step - warmup_) / double(total_ - warmup_);
  return min_ratio_ + (1.0 - min_ratio_) * 0.5 * (1.0 + std::cos(M_PI * progress));
}

LinearDecaySchedule::LinearDecaySchedule(int64_t warmup, int64_t total, double min_ratio)
    : warmup_(warmup), total_(total), min_ratio_(min_ratio) {
  check_common("LinearDecaySchedule", warmup, total, min_ratio);
}

double LinearDecaySchedule::multiplier(int64_t step) const {
  check_step("LinearDecaySchedule", step);
  if (step < warmup_) return warmup_factor(step, warmup_);
  if (step >= total_) return min_ratio_;
  double progress = double(step - warmup_) / double(total_ - warmup_);
  return 1.0 - (1.0 - min_ratio_) * progress;
}

WarmupStableDecaySchedule::WarmupStableDecaySchedule(int64_t warmup, int64_t total,
                                                     double decay_fraction, double min_ratio)
    : warmup_(warmup), total_(total), min_ratio_(min_ratio) {
  check_common("WarmupStableDecaySchedule", warmup, total, min_ratio);
  KILN_CHECK(decay_fraction > 0 && decay_fraction <= 1,
             "WarmupStableDecaySchedule: decay_fraction must be in (0, 1], got ", decay_fraction);
  decay_start_ = total - std::llround(decay_fraction * double(total));
  KILN_CHECK(decay_start_ >= warmup && decay_start_ < total,
             "WarmupStableDecaySchedule: the decay (the last ", decay_fraction, " of ", total,
             " steps, from step ", decay_start_, ") must start after the warmup (", warmup,
             " steps) and last at least one step");
}

double WarmupStableDecaySchedule::multiplier(int64_t step) const {
  check_step("WarmupStableDecaySchedule", step);
  if (step < warmup_) return warmup_factor(step, warmup_);
  if (step >= total_) return min_ratio_;
  if (step < decay_start_) return 1.0;
  double progress = double(step - decay_start_) / double(total_ - decay_start_);
  return 1.0 - (1.0 - min_ratio_) * progress;
}

}  // namespace kiln::optimizers
