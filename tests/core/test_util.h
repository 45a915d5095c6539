// Helpers shared by the core tests: closeness checks and the finite-difference gradient check.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/kiln.h"
#include "kernels/cpu/philox.h"

namespace kiln::testing {

/// Max |a - b| <= atol + rtol |b| elementwise (compared in f64); a message on failure.
::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol = 1e-6, double rtol = 1e-5);

#define EXPECT_ALL_CLOSE(a, b, ...) EXPECT_TRUE(::kiln::testing::all_close((a), (b), ##__VA_ARGS__))

/// A random f64 tensor (normal) from a fixed seed.
Tensor randn64(const Shape& shape, uint64_t seed = 1);
/// A random f64 tensor, uniform in [lo, hi).
Tensor rand64(const Shape& shape, double lo, double hi, uint64_t seed = 1);

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-7;
  double rtol = 1e-5;
  /// Skip coordinates where the left and right difference quotients disagree (a kink of
  /// relu, abs, clamp, max lies within eps); the count is reported and must stay small.
  bool skip_kinks = true;
  /// At most this fraction of coordinates may be skipped as kinks.
  double max_kink_fraction = 0.05;
  /// Whole-model checks: at most this many coordinates of each input, evenly spaced over it
  /// (every tensor is still checked, its first and last coordinates included); 0: all.
  int64_t max_per_input = 0;
};

/// Checks the gradients of L = sum(fn(inputs) * w), w a fixed random tensor, against central
/// differences in f64 for every input that requires grad (f64 leaves).
::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                     const std::vector<Tensor>& inputs, const GradcheckOptions& opts = {});

#define EXPECT_GRADCHECK(fn, ...) EXPECT_TRUE(::kiln::testing::gradcheck((fn), __VA_ARGS__))

}  // namespace kiln::testing
