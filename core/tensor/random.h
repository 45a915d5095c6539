// Seeded, counter-based random tensors (Philox4x32-10). A Generator is (seed, offset): each
// request reserves a range of counter blocks, so results never depend on the thread count and
// a saved state replays exactly (checkpoints, gradient checkpointing, dropout backward).
#pragma once

#include <cstdint>
#include <mutex>

#include "core/tensor/tensor.h"

namespace kiln {

struct RngState {
  uint64_t seed = 0;
  uint64_t offset = 0;  ///< next free Philox block (4 random words each)
};

class Generator {
 public:
  explicit Generator(uint64_t seed = 0) : state_{seed, 0} {}
  void manual_seed(uint64_t seed);
  RngState state() const;
  void set_state(RngState s);
  /// Reserves `blocks` Philox blocks; returns the state to draw them from.
  RngState reserve(uint64_t blocks);

 private:
  mutable std::mutex mu_;
  RngState state_;
};

/// The process-wide generator used when none is given.
Generator& default_generator();
inline void manual_seed(uint64_t seed) { default_generator().manual_seed(seed); }

/// Uniform in [low, high) (floating dtypes).
Tensor rand(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, double low = 0.0,
            double high = 1.0);
/// Normal with the given mean and standard deviation (Box-Muller; floating dtypes).
Tensor randn(const Shape& shape, DType dtype = DType::f32, Generator* gen = nullptr, double mean = 0.0,
             double std = 1.0);
/// Uniform integers in [low, high) (i32 or i64).
Tensor randint(int64_t low, int64_t high, const Shape& shape, DType dtype = DType::i64, Generator* gen = nullptr);
/// A random permutation of 0..n-1 (i64), as a sort by random keys.
Tensor randperm(int64_t n, Generator* gen = nullptr);

/// Uniform in [0, 1) for flat index i of a draw that starts at `s` (the same values rand gives).
float uniform_at(const RngState& s, uint64_t i);

}  // namespace kiln
