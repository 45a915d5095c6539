// exp for the softmax family: an f32 version the compiler can vectorise, and std::exp in f64.
//
// std::expf is a libm call that GCC vectorises only under -ffast-math, which would leave
// every softmax loop scalar. fast_exp is the Cephes expf algorithm written without branches:
//   exp(x) = 2^n exp(r),  n = round(x / ln 2),  r = x - n ln 2  in [-ln2/2, ln2/2],
// with ln 2 split into a short high part (exact in n * C1) and a low correction, and exp(r)
// from Cephes' degree-7 minimax polynomial (1 + r + r^2 P(r)), about 1 ulp. 2^n is built in
// the exponent bits. Special values are selected through those bits, so the loop has no branch:
//   x < ln(FLT_MIN) ~ -87.34 -> 0 (exact for -inf; the true value would be subnormal),
//   x > 88 -> +inf (the true value exceeds 1.6e38; softmax arguments are <= 0 anyway),
//   NaN -> NaN.
// GCC vectorises the selects only with -fno-trapping-math (clang's default), which
// core/CMakeLists.txt sets for libkiln_core: with trapping math it may not speculate the
// float ops it threads into the arms of a select, and the loop stays scalar (still correct).
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

namespace kiln::cpu {

// always_inline: the softmax loops only vectorise when it is inlined, and GCC may judge the call
// "cold" in a large OpenMP-outlined body and keep it out of line.
[[gnu::always_inline]] inline float fast_exp(float x) {
  constexpr float kLo = -87.33654475f;  // ln(FLT_MIN): below it 2^n would need a subnormal
  constexpr float kHi = 88.0f;          // keeps n <= 127 so 2^n is a normal float
  constexpr float kLog2e = 1.44269504088896341f;
  constexpr float kC1 = 0.693359375f;     // ln 2, high part: n * kC1 is exact for |n| < 2^9
  constexpr float kC2 = -2.12194440e-4f;  // ln 2 - kC1
  constexpr float kRound = 12582912.0f;   // 1.5 * 2^23: adding it rounds to an integer (RNE)
  // Clamp first so the integer arithmetic below stays in range; NaN compares false and
  // becomes kLo here (it is restored at the end).
  float xc = x > kLo ? x : kLo;
  xc = xc < kHi ? xc : kHi;
  float n = (xc * kLog2e + kRound) - kRound;
  float r = xc - n * kC1 - n * kC2;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  // Special values are chosen through the scale's bits (integer selects), so the float
  // multiply below runs unconditionally.
  int32_t e = (int32_t(n) + 127) << 23;  // n in [-126, 127]: a normal exponent field
  e = x < kLo ? 0 : e;                   // p * 0 = 0
  e = x > kHi ? 0x7f800000 : e;          // p * inf = inf (p > 0)
  e = x != x ? 0x7fc00000 : e;           // p * NaN = NaN
  return p * std::bit_cast<float>(e);
}

/// exp in the compute type of a kernel: fast_exp for f32, std::exp for f64 (gradient checks).
template <class A>
[[gnu::always_inline]] inline A exp_acc(A x) {
  if constexpr (sizeof(A) == 4)
    return fast_exp(x);
  else
    return std::exp(x);
}

}  // namespace kiln::cpu
