// Rotary position embedding (RoPE; Su et al., "RoFormer", 2021), in the layout of Hugging
// Face's GPT-NeoX and LLaMA: of the D dims of a head, the first R (even) rotate, in pairs
// (i, i + R/2) for i < R/2; the remaining D - R pass through (partial rotary, as GPT-NeoX/Phi).
//
// Legend: N independent rows of T positions (N = B * H), D dims, R rotated dims, half = R / 2.
// x, out [N, T, D] contiguous; cos, sin tables [T, half] in the compute type A.
//
// Position t (= position_offset + row index along T) rotates pair i by the angle
//   a(t, i) = t * theta^(-2i / R),
// so  out_i = x_i cos a - x_{i+half} sin a,   out_{i+half} = x_{i+half} cos a + x_i sin a.
// The rotation is orthogonal, so its vector-Jacobian product is the rotation by -a: backward
// is the same kernel with sin negated.
#pragma once

#include <omp.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"

namespace kiln::cpu {

/// cos and sin of a(position_offset + t, i) for t < T, i < half, computed in double.
template <class A>
void rotary_tables(A* cos_t, A* sin_t, int64_t T, int64_t half, double theta,
                   int64_t position_offset) {
  std::vector<double> inv_freq(static_cast<size_t>(half));
  for (int64_t i = 0; i < half; ++i)
    inv_freq[size_t(i)] = std::pow(theta, -2.0 * double(i) / double(2 * half));
  for (int64_t t = 0; t < T; ++t)
    for (int64_t i = 0; i < half; ++i) {
      const double angle = double(position_offset + t) * inv_freq[size_t(i)];
      cos_t[t * half + i] = A(std::cos(angle));
      sin_t[t * half + i] = A(std::sin(angle));
    }
}

/// out = rotation of x by +a (forward) or -a (inverse = backward). out may alias x.
template <class T>
void rotary_apply(T* out, const T* x, int64_t N, int64_t Tn, int64_t D, int64_t R,
                  const acc_t<T>* cos_t, const acc_t<T>* sin_t, bool inverse, int threads) {
  using A = acc_t<T>;
  const int64_t half = R / 2, rows = N * Tn;
  const A sgn = inverse ? A(-1) : A(1);
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * D > 32768)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t t = row % Tn;
    const T* xr = x + row * D;
    T* orow = out + row * D;
    const A* c = cos_t + t * half;
    const A* s = sin_t + t * half;
#pragma omp simd
    for (int64_t i = 0; i < half; ++i) {
      const A x1 = cast_value<A>(xr[i]), x2 = cast_value<A>(xr[i + half]);
      const A si = sgn * s[i];
      orow[i] = cast_value<T>(x1 * c[i] - x2 * si);
      orow[i + half] = cast_value<T>(x2 * c[i] + x1 * si);
    }
    if (orow != xr)
      for (int64_t e = R; e < D; ++e) orow[e] = xr[e];
  }
}

}  // namespace kiln::cpu
