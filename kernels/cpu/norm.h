// Fused layer norm and RMS norm, forward and backward, as llm.c writes them.
//
// Legend:
//   N        rows (every dim but the last, flattened)
//   C        the normalised (last) dim
//   x, out, dout, dx          [N, C] contiguous, element type T
//   weight, bias, dweight, dbias   [C], element type T; any may be null (absent / not wanted)
//   mean, rstd               [N], type S = acc_t<T> (f32 for f32/bf16/f16, f64 for f64)
// Arithmetic is done in S; bf16/f16 are loaded to f32 and rounded once on store.
//
// Layer norm. With mu = mean_i x_i, var = mean_i (x_i - mu)^2 (two passes, the numerically
// safe order), r = 1 / sqrt(var + eps) and xhat_i = (x_i - mu) r:
//   y_i = xhat_i w_i + b_i
// Backward. Let dxhat_i = dy_i w_i. Then, for the row,
//   d xhat_i / d x_j = r (delta_ij - 1/C) + (x_i - mu) d r / d x_j
//   d r / d x_j      = -1/2 (var + eps)^(-3/2) d var / d x_j = -r^3 (x_j - mu) / C
// (d var / d x_j = 2 (x_j - mu) / C because sum_i (x_i - mu) = 0), so
//   dx_j = sum_i dxhat_i d xhat_i / d x_j
//        = r [ dxhat_j - mean_i(dxhat_i) - xhat_j mean_i(dxhat_i xhat_i) ]
// with term 1 the direct path, term 2 through mu, term 3 through r. The parameters:
//   dw_i = sum_rows dy_i xhat_i,   db_i = sum_rows dy_i.
//
// RMS norm. r = 1 / sqrt(mean_i x_i^2 + eps), xhat_i = x_i r, y_i = xhat_i w_i. Here
// d r / d x_j = -r^3 x_j / C, so the mean term vanishes:
//   dx_j = r [ dxhat_j - xhat_j mean_i(dxhat_i xhat_i) ],   dw_i = sum_rows dy_i xhat_i.
//
// Determinism: dweight and dbias are sums over rows. Rows are cut into chunks whose size
// depends only on N (norm_row_chunk), each chunk sums its rows in order into its own partial
// row, and the partials are added in chunk order: the same bits for every thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/softmax.h"  // lane_sum: a vectorised row sum in a fixed order

namespace kiln::cpu {

/// Rows per chunk of the parameter-gradient sums: at least 32, and at most 256 chunks.
inline int64_t norm_row_chunk(int64_t N) {
  return std::max<int64_t>(32, (N + 255) / 256);
}

// The optional operands are template flags rather than null tests inside the loops: a test per
// element keeps GCC from vectorising them.
template <bool kW, bool kB, class T, class S>
inline void norm_row_out(T* __restrict o, const T* __restrict xr, const T* __restrict weight,
                         const T* __restrict bias, S m, S r, int64_t C) {
#pragma omp simd
  for (int64_t i = 0; i < C; ++i) {
    S y = (cast_value<S>(xr[i]) - m) * r;
    if constexpr (kW) y *= cast_value<S>(weight[i]);
    if constexpr (kB) y += cast_value<S>(bias[i]);
    o[i] = cast_value<T>(y);
  }
}

template <class T, class S>
inline void norm_row_out(T* o, const T* xr, const T* weight, const T* bias, S m, S r, int64_t C) {
  if (weight && bias)
    norm_row_out<true, true>(o, xr, weight, bias, m, r, C);
  else if (weight)
    norm_row_out<true, false>(o, xr, weight, bias, m, r, C);
  else if (bias)
    norm_row_out<false, true>(o, xr, weight, bias, m, r, C);
  else
    norm_row_out<false, false>(o, xr, weight, bias, m, r, C);
}

template <class T>
void layernorm_forward(T* out, acc_t<T>* mean, acc_t<T>* rstd, const T* x, const T* weight,
                       const T* bias, int64_t N, int64_t C, double eps, int threads) {
  using S = acc_t<T>;
#pragma omp parallel for num_threads(threads) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    auto at = [xr](int64_t i) { return cast_value<S>(xr[i]); };
    const S m = lane_sum<S>(C, at) / S(C);
    const S v = lane_sum<S>(C,
                            [&](int64_t i) {
                              const S d = at(i) - m;
                              return d * d;
                            }) /
                S(C);
    const S r = S(1) / std::sqrt(v + S(eps));
    norm_row_out(out + n * C, xr, weight, bias, m, r, C);
    mean[n] = m;
    rstd[n] = r;
  }
}

template <class T>
void rmsnorm_forward(T* out, acc_t<T>* rstd, const T* x, const T* weight, int64_t N, int64_t C,
                     double eps, int threads) {
  using S = acc_t<T>;
#pragma omp parallel for num_threads(threads) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const T* xr = x + n * C;
    const S ss = lane_sum<S>(C, [xr](int64_t i) {
      const S v = cast_value<S>(xr[i]);
      return v * v;
    });
    const S r = S(1) / std::sqrt(ss / S(C) + S(eps));
    norm_row_out(out + n * C, xr, weight, static_cast<const T*>(nullptr), S(0), r, C);
    rstd[n] = r;
  }
}

// One row of the backward: dh = dy * w (or dy), and the row's dy * xhat and dy added into the
// chunk's partial parameter gradients cw, cb (when wanted).
template <bool kW, bool kCW, bool kCB, class T, class S>
inline void norm_row_grads(S* __restrict dh, S* __restrict cw, S* __restrict cb,
                           const T* __restrict gr, const T* __restrict xr,
                           const T* __restrict weight, S m, S r, int64_t C) {
#pragma omp simd
  for (int64_t i = 0; i < C; ++i) {
    const S g = cast_value<S>(gr[i]);
    if constexpr (kW)
      dh[i] = g * cast_value<S>(weight[i]);
    else
      dh[i] = g;
    if constexpr (kCW) cw[i] += g * ((cast_value<S>(xr[i]) - m) * r);
    if constexpr (kCB) cb[i] += g;
  }
}

template <bool kW, class T, class S>
inline void norm_row_grads(S* dh, S* cw, S* cb, const T* gr, const T* xr, const T* weight, S m, S r,
                           int64_t C) {
  if (cw && cb)
    norm_row_grads<kW, true, true>(dh, cw, cb, gr, xr, weight, m, r, C);
  else if (cw)
    norm_row_grads<kW, true, false>(dh, cw, cb, gr, xr, weight, m, r, C);
  else if (cb)
    norm_row_grads<kW, false, true>(dh, cw, cb, gr, xr, weight, m, r, C);
  else
    norm_row_grads<kW, false, false>(dh, cw, cb, gr, xr, weight, m, r, C);
}

/// Layer norm (mean given) or RMS norm (mean == nullptr) backward. dx, dweight, dbias may each
/// be null when not wanted; they are written, not accumulated.
template <class T>
void norm_backward(T* dx, T* dweight, T* dbias, const T* dout, const T* x, const T* weight,
                   const acc_t<T>* mean, const acc_t<T>* rstd, int64_t N, int64_t C, int threads) {
  using S = acc_t<T>;
  const int64_t rows_per = norm_row_chunk(N);
  const int64_t chunks = (N + rows_per - 1) / rows_per;
  // Partial sums of each chunk: [chunks, C] for dweight and for dbias.
  std::vector<S> pw(dweight ? size_t(chunks * C) : 0), pb(dbias ? size_t(chunks * C) : 0);
  const S inv_c = S(1) / S(C);
#pragma omp parallel num_threads(threads) if (N * C > 32768)
  {
    std::vector<S> dxhat(static_cast<size_t>(C));  // per thread: dy * w of the current row
#pragma omp for schedule(static)
    for (int64_t c = 0; c < chunks; ++c) {
      S* cw = dweight ? pw.data() + c * C : nullptr;
      S* cb = dbias ? pb.data() + c * C : nullptr;
      if (cw) std::fill(cw, cw + C, S(0));
      if (cb) std::fill(cb, cb + C, S(0));
      const int64_t n1 = std::min(N, (c + 1) * rows_per);
      for (int64_t n = c * rows_per; n < n1; ++n) {
        const T* xr = x + n * C;
        const T* gr = dout + n * C;
        const S m = mean ? mean[n] : S(0), r = rstd[n];
        S* dh = dxhat.data();
        if (weight)
          norm_row_grads<true>(dh, cw, cb, gr, xr, weight, m, r, C);
        else
          norm_row_grads<false>(dh, cw, cb, gr, xr, weight, m, r, C);
        if (!dx) continue;
        // Terms 2 and 3: the row means of dxhat and dxhat * xhat.
        const S mean_d = mean ? lane_sum<S>(C, [dh](int64_t i) { return dh[i]; }) * inv_c : S(0);
        const S mean_dx =
            lane_sum<S>(C, [&](int64_t i) { return dh[i] * (cast_value<S>(xr[i]) - m) * r; }) *
            inv_c;
        T* __restrict o = dx + n * C;
        const S* __restrict dhr = dh;
#pragma omp simd
        for (int64_t i = 0; i < C; ++i) {
          const S xhat = (cast_value<S>(xr[i]) - m) * r;
          o[i] = cast_value<T>(r * (dhr[i] - mean_d - xhat * mean_dx));
        }
      }
    }
    // Partials merged in chunk order; columns are independent.
#pragma omp for schedule(static)
    for (int64_t i = 0; i < C; ++i) {
      if (dweight) {
        S s = 0;
        for (int64_t c = 0; c < chunks; ++c) s += pw[size_t(c * C + i)];
        dweight[i] = cast_value<T>(s);
      }
      if (dbias) {
        S s = 0;
        for (int64_t c = 0; c < chunks; ++c) s += pb[size_t(c * C + i)];
        dbias[i] = cast_value<T>(s);
      }
    }
  }
}

}  // namespace kiln::cpu
