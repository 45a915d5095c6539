// Fused cross-entropy over the last dim: log-softmax, the pick of the target, label smoothing
// and the gradient, without materialising the log-probabilities.
//
// Legend:
//   N        rows (every dim of the logits but the last, flattened)
//   C        classes
//   logits   [N, C] contiguous, element type T; dlogits likewise
//   target   [N], index type I (int32_t / int64_t), checked: in [0, C) or == ignore
//   loss     [N] per-row losses, S = acc_t<T> (f32 for f32/bf16/f16, f64 for f64)
//   lse      [N] per-row log-sum-exp, S
//
// Forward. With lse = log sum_c exp(x_c) (computed as m + log sum_c exp(x_c - m), m = max_c x_c),
// log p_c = x_c - lse. For target t and smoothing s the target distribution is
//   q_c = (1 - s) [c = t] + s / C
// and the row's loss is
//   -sum_c q_c log p_c = (1 - s) (lse - x_t) + s (lse - mean_c x_c)
// i.e. (1 - s) nll + s mean_c(-log p_c), as PyTorch defines it. Ignored rows have loss 0.
//
// Backward. d loss / d x_c = p_c - q_c (sum_c q_c = 1), with p_c = exp(x_c - lse) from the
// saved lse, scaled by the incoming gradient of the row (times 1/count for a mean); ignored
// rows get exactly 0.
//
// exp is fast_exp in f32 (vectorisable, about 1 ulp) and std::exp in f64; the row max and sums
// use softmax.h's lane_max / lane_sum, whose order is fixed (deterministic, vectorised).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/softmax.h"  // lane_max, lane_sum: vectorised, in a fixed order

namespace kiln::cpu {

/// Writes every row's loss and lse; returns the number of rows not ignored.
template <class T, class I>
int64_t cross_entropy_forward(acc_t<T>* loss, acc_t<T>* lse, const T* logits, const I* target,
                              int64_t N, int64_t C, int64_t ignore, double smoothing, int threads) {
  using S = acc_t<T>;
  const S s = S(smoothing);
  int64_t count = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : count) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    const int64_t t = int64_t(target[n]);
    if (t == ignore) {
      loss[n] = 0;
      lse[n] = 0;
      continue;
    }
    ++count;
    const T* x = logits + n * C;
    auto at = [x](int64_t c) { return cast_value<S>(x[c]); };
    const S m = lane_max<S>(C, at);
    const S sum_e = lane_sum<S>(C, [&](int64_t c) { return exp_acc(at(c) - m); });
    const S sum_x = s == S(0) ? S(0) : lane_sum<S>(C, at);
    const S l = m + std::log(sum_e);
    const S nll = l - cast_value<S>(x[t]);
    loss[n] = s == S(0) ? nll : (S(1) - s) * nll + s * (l - sum_x / S(C));
    lse[n] = l;
  }
  return count;
}

/// dlogits[n, c] = grad[n * grad_step] * scale * (p_c - q_c), 0 for ignored rows. grad_step is
/// 0 when one gradient (of a summed loss) serves every row.
template <class T, class I>
void cross_entropy_backward(T* dlogits, const acc_t<T>* grad, int64_t grad_step, double scale,
                            const T* logits, const acc_t<T>* lse, const I* target, int64_t N,
                            int64_t C, int64_t ignore, double smoothing, int threads) {
  using S = acc_t<T>;
  const S off = S(smoothing) / S(C), on = S(1) - S(smoothing) + off;
#pragma omp parallel for num_threads(threads) schedule(static) if (N * C > 32768)
  for (int64_t n = 0; n < N; ++n) {
    T* d = dlogits + n * C;
    const int64_t t = int64_t(target[n]);
    if (t == ignore) {
      std::fill(d, d + C, cast_value<T>(S(0)));
      continue;
    }
    const T* x = logits + n * C;
    const S g = grad[n * grad_step] * S(scale), l = lse[n];
#pragma omp simd
    for (int64_t c = 0; c < C; ++c)
      d[c] = cast_value<T>(g * (exp_acc(cast_value<S>(x[c]) - l) - off));
    d[t] = cast_value<T>(g * (exp_acc(cast_value<S>(x[t]) - l) - on));
  }
}

}  // namespace kiln::cpu
