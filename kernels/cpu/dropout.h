// Dropout masks from the counter-based generator (philox.h).
//
// Legend: n elements at flat indices first..first+n-1 of a draw that starts at Philox block
// `offset` with key `seed`; element i uses lane i % 4 of block offset + i / 4. An element is
// kept when its uniform u = (word >> 8) / 2^24 satisfies u >= p. Because u is a multiple of
// 2^-24, u >= p  <=>  (word >> 8) >= ceil(p * 2^24), an integer compare that is exactly the
// double compare `uniform_at(s, i) >= p` (p * 2^24 is exact in double). The mask of element i
// depends only on (seed, offset, i), never on which thread drew it, so backward and the unfused
// reference of attention regenerate it.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/philox.h"

namespace kiln::cpu {

/// The integer threshold of the 24-bit uniforms: keep iff (word >> 8) >= threshold.
inline uint32_t dropout_threshold(double p) {
  return uint32_t(std::ceil(p * 16777216.0));
}

/// keep[0..n) = the keep flags of flat indices first..first+n-1.
inline void dropout_keep_run(bool* keep, int64_t n, uint64_t first, uint64_t seed, uint64_t offset,
                             uint32_t threshold) {
  int64_t t = 0;
  while (t < n) {
    const uint64_t i = first + uint64_t(t);
    const auto w = philox4x32(offset + i / 4, seed);
    for (int lane = int(i % 4); lane < 4 && t < n; ++lane, ++t)
      keep[t] = (w[lane] >> 8) >= threshold;
  }
}

// Elements per parallel chunk: a multiple of 4 so a Philox block is never split between chunks.
inline constexpr int64_t kDropoutChunk = 16384;

/// out[i] = keep(i) ? x[i] * 1/(1-p) : 0 for i in [0, n); x and out contiguous (may alias).
template <class T>
void dropout_forward(T* out, const T* x, int64_t n, double p, uint64_t seed, uint64_t offset,
                     int threads) {
  using A = acc_t<T>;
  const uint32_t threshold = dropout_threshold(p);
  const A scale = A(1.0 / (1.0 - p));
  const int64_t chunks = (n + kDropoutChunk - 1) / kDropoutChunk;
#pragma omp parallel for num_threads(threads) schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    bool keep[kDropoutChunk];
    const int64_t b = c * kDropoutChunk, m = std::min(kDropoutChunk, n - b);
    dropout_keep_run(keep, m, uint64_t(b), seed, offset, threshold);
    for (int64_t i = 0; i < m; ++i)
      out[b + i] = keep[i] ? cast_value<T>(cast_value<A>(x[b + i]) * scale) : cast_value<T>(A(0));
  }
}

/// keep[i] for i in [0, n) (bool storage).
inline void dropout_mask_fill(bool* keep, int64_t n, double p, uint64_t seed, uint64_t offset,
                              int threads) {
  const uint32_t threshold = dropout_threshold(p);
  const int64_t chunks = (n + kDropoutChunk - 1) / kDropoutChunk;
#pragma omp parallel for num_threads(threads) schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    const int64_t b = c * kDropoutChunk;
    dropout_keep_run(keep + b, std::min(kDropoutChunk, n - b), uint64_t(b), seed, offset,
                     threshold);
  }
}

}  // namespace kiln::cpu
