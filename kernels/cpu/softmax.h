// Fused softmax, log-softmax and log-sum-exp over one dim, forward and backward.
//
// Legend: x is contiguous and viewed as [outer, n, inner]; a "line" is the n elements
// x[o, :, i] (stride `inner`), and each line is normalised independently. inner == 1 is the
// fast path (the dim is the last one: lines are contiguous rows); inner > 1 walks a block of
// kBlock adjacent lines together so every load is a contiguous run of the block. T is the
// storage type, A = acc_t<T> the compute type (f32 for f32/bf16/f16, f64 for f64).
//
// Forward, with m = max_j x_j (subtracted so no exp overflows; the result is unchanged) and
// s = sum_j exp(x_j - m):
//   softmax      y_j = exp(x_j - m) / s
//   log_softmax  y_j = (x_j - m) - log s
//   logsumexp    l   = m + log s   (m taken as 0 when it is +-inf, so an all -inf line gives
//                                   -inf and a line holding +inf gives +inf, not NaN)
// Backward, given g = dL/dy. Softmax: dy_j/dx_k = y_j (delta_jk - y_k), so
//   dx_k = sum_j g_j y_j (delta_jk - y_k) = y_k (g_k - sum_j g_j y_j).
// Log-softmax: dy_j/dx_k = delta_jk - softmax_k = delta_jk - exp(y_k), so
//   dx_k = g_k - exp(y_k) sum_j g_j.
// For bf16/f16 the softmax forward recomputes exp(x - m) in its last pass instead of storing
// it, so the output is rounded once and no scratch buffer is needed; f32/f64 rows keep it in y.
//
// Determinism: a line is always reduced by one thread, its sum in kSoftmaxLanes interleaved
// partial sums combined in a fixed tree (which lets the compiler vectorise without reordering
// anything itself), so the result never depends on the thread count or the vector width.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/fast_exp.h"

namespace kiln::cpu {

inline constexpr int kSoftmaxLanes = 16;
inline constexpr int64_t kSoftmaxBlock = 64;       // lines walked together when inner > 1
inline constexpr int64_t kSoftmaxGrain = 1 << 15;  // elements below which one thread runs

/// max over j < n of f(j) (named like lane_sum; the lanes are the compiler's). NaNs may or
/// may not be skipped here; either way they reach the result through the exp of the sum
/// pass. The order does not matter (max is exact), so the OpenMP simd reduction is free to
/// vectorise it.
template <class A, class F>
inline A lane_max(int64_t n, F&& f) {
  A m = -std::numeric_limits<A>::infinity();
#pragma omp simd reduction(max : m)
  for (int64_t j = 0; j < n; ++j) {
    A v = f(j);
    m = v > m ? v : m;
  }
  return m;
}

/// sum over j < n of f(j), in kSoftmaxLanes partial sums folded pairwise.
template <class A, class F>
inline A lane_sum(int64_t n, F&& f) {
  A acc[kSoftmaxLanes] = {};
  int64_t j = 0;
  for (; j + kSoftmaxLanes <= n; j += kSoftmaxLanes)
    for (int l = 0; l < kSoftmaxLanes; ++l) acc[l] += f(j + l);
  for (int l = 0; l < kSoftmaxLanes && j + l < n; ++l) acc[l] += f(j + l);
  for (int w = kSoftmaxLanes / 2; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

/// Runs body(o, i0, width) over every block of up to kSoftmaxBlock lines, in parallel.
template <class F>
inline void for_each_line_block(int64_t outer, int64_t n, int64_t inner, int threads, F&& body) {
  const int64_t blocks = (inner + kSoftmaxBlock - 1) / kSoftmaxBlock;
  const int64_t tasks = outer * blocks;
#pragma omp parallel for num_threads(threads) \
    schedule(static) if (outer * n * inner > kSoftmaxGrain)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / blocks, i0 = (t % blocks) * kSoftmaxBlock;
    body(o, i0, std::min(kSoftmaxBlock, inner - i0));
  }
}

/// y = softmax(x) or log_softmax(x) along the middle dim of [outer, n, inner].
template <class T>
void softmax_forward(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log,
                     int threads) {
  using A = acc_t<T>;
  if (inner == 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * n > kSoftmaxGrain)
    for (int64_t r = 0; r < outer; ++r) {
      const T* xr = x + r * n;
      T* yr = y + r * n;
      const A m = lane_max<A>(n, [&](int64_t j) { return cast_value<A>(xr[j]); });
      if (log) {
        const A s = lane_sum<A>(n, [&](int64_t j) { return exp_acc<A>(cast_value<A>(xr[j]) - m); });
        const A ls = std::log(s);
        for (int64_t j = 0; j < n; ++j) yr[j] = cast_value<T>((cast_value<A>(xr[j]) - m) - ls);
      } else if constexpr (std::is_same_v<T, A>) {
        // Full precision storage: keep exp(x - m) in y and scale it, one exp per element.
        const A s = lane_sum<A>(n, [&](int64_t j) {
          const A e = exp_acc<A>(xr[j] - m);
          yr[j] = e;
          return e;
        });
        const A inv = A(1) / s;
        for (int64_t j = 0; j < n; ++j) yr[j] *= inv;
      } else {
        const A s = lane_sum<A>(n, [&](int64_t j) { return exp_acc<A>(cast_value<A>(xr[j]) - m); });
        const A inv = A(1) / s;
        for (int64_t j = 0; j < n; ++j)
          yr[j] = cast_value<T>(exp_acc<A>(cast_value<A>(xr[j]) - m) * inv);
      }
    }
    return;
  }
  for_each_line_block(outer, n, inner, threads, [&](int64_t o, int64_t i0, int64_t w) {
    A m[kSoftmaxBlock], s[kSoftmaxBlock];
    const T* xb = x + o * n * inner + i0;
    T* yb = y + o * n * inner + i0;
    for (int64_t b = 0; b < w; ++b) {
      m[b] = -std::numeric_limits<A>::infinity();
      s[b] = A(0);
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t b = 0; b < w; ++b) {
        A v = cast_value<A>(xb[j * inner + b]);
        m[b] = v > m[b] ? v : m[b];
      }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t b = 0; b < w; ++b) s[b] += exp_acc<A>(cast_value<A>(xb[j * inner + b]) - m[b]);
    if (log) {
      for (int64_t b = 0; b < w; ++b) s[b] = std::log(s[b]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b)
          yb[j * inner + b] = cast_value<T>((cast_value<A>(xb[j * inner + b]) - m[b]) - s[b]);
    } else {
      for (int64_t b = 0; b < w; ++b) s[b] = A(1) / s[b];
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b)
          yb[j * inner + b] =
              cast_value<T>(exp_acc<A>(cast_value<A>(xb[j * inner + b]) - m[b]) * s[b]);
    }
  });
}

/// dx from g = dL/dy and the forward output y (see the derivation at the top).
template <class T>
void softmax_backward(T* dx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner,
                      bool log, int threads) {
  using A = acc_t<T>;
  if (inner == 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * n > kSoftmaxGrain)
    for (int64_t r = 0; r < outer; ++r) {
      const T* gr = g + r * n;
      const T* yr = y + r * n;
      T* dr = dx + r * n;
      if (log) {
        const A sg = lane_sum<A>(n, [&](int64_t j) { return cast_value<A>(gr[j]); });
        for (int64_t j = 0; j < n; ++j)
          dr[j] = cast_value<T>(cast_value<A>(gr[j]) - exp_acc<A>(cast_value<A>(yr[j])) * sg);
      } else {
        const A dot =
            lane_sum<A>(n, [&](int64_t j) { return cast_value<A>(gr[j]) * cast_value<A>(yr[j]); });
        for (int64_t j = 0; j < n; ++j)
          dr[j] = cast_value<T>(cast_value<A>(yr[j]) * (cast_value<A>(gr[j]) - dot));
      }
    }
    return;
  }
  for_each_line_block(outer, n, inner, threads, [&](int64_t o, int64_t i0, int64_t w) {
    A acc[kSoftmaxBlock];
    const int64_t base = o * n * inner + i0;
    const T* gb = g + base;
    const T* yb = y + base;
    T* db = dx + base;
    for (int64_t b = 0; b < w; ++b) acc[b] = A(0);
    if (log) {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b) acc[b] += cast_value<A>(gb[j * inner + b]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b) {
          const int64_t k = j * inner + b;
          db[k] = cast_value<T>(cast_value<A>(gb[k]) - exp_acc<A>(cast_value<A>(yb[k])) * acc[b]);
        }
    } else {
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b)
          acc[b] += cast_value<A>(gb[j * inner + b]) * cast_value<A>(yb[j * inner + b]);
      for (int64_t j = 0; j < n; ++j)
        for (int64_t b = 0; b < w; ++b) {
          const int64_t k = j * inner + b;
          db[k] = cast_value<T>(cast_value<A>(yb[k]) * (cast_value<A>(gb[k]) - acc[b]));
        }
    }
  });
}

/// out[o, i] = log sum_j exp(x[o, j, i]) for the [outer, n, inner] view; out is [outer, inner].
template <class T>
void logsumexp_forward(T* out, const T* x, int64_t outer, int64_t n, int64_t inner, int threads) {
  using A = acc_t<T>;
  auto shift = [](A m) { return std::isinf(m) ? A(0) : m; };
  if (inner == 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * n > kSoftmaxGrain)
    for (int64_t r = 0; r < outer; ++r) {
      const T* xr = x + r * n;
      const A m = shift(lane_max<A>(n, [&](int64_t j) { return cast_value<A>(xr[j]); }));
      const A s = lane_sum<A>(n, [&](int64_t j) { return exp_acc<A>(cast_value<A>(xr[j]) - m); });
      out[r] = cast_value<T>(std::log(s) + m);
    }
    return;
  }
  for_each_line_block(outer, n, inner, threads, [&](int64_t o, int64_t i0, int64_t w) {
    A m[kSoftmaxBlock], s[kSoftmaxBlock];
    const T* xb = x + o * n * inner + i0;
    for (int64_t b = 0; b < w; ++b) {
      m[b] = -std::numeric_limits<A>::infinity();
      s[b] = A(0);
    }
    for (int64_t j = 0; j < n; ++j)
      for (int64_t b = 0; b < w; ++b) {
        A v = cast_value<A>(xb[j * inner + b]);
        m[b] = v > m[b] ? v : m[b];
      }
    for (int64_t b = 0; b < w; ++b) m[b] = shift(m[b]);
    for (int64_t j = 0; j < n; ++j)
      for (int64_t b = 0; b < w; ++b) s[b] += exp_acc<A>(cast_value<A>(xb[j * inner + b]) - m[b]);
    for (int64_t b = 0; b < w; ++b) out[o * inner + i0 + b] = cast_value<T>(std::log(s[b]) + m[b]);
  });
}

}  // namespace kiln::cpu
