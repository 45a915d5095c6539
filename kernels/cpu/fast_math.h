// tanh and erfc in f32 that the compiler can vectorise (std::tanhf and std::erfcf are libm
// calls, which keep GELU and tanh loops scalar: ~1 GB/s instead of memory speed), and the
// *_acc forms that use std:: in f64 so gradient checks stay exact.
//
// fast_tanh: the rational minimax approximation of Eigen's generic_fast_tanh_float,
//   tanh(x) ~ x P(x^2) / Q(x^2) on |x| <= 7.9988 (beyond, tanh is 1 in f32), x itself below
//   4e-4; measured worst relative error 2.6e-7 over [-12, 12].
// fast_erfc: Numerical Recipes' erfcc (a Chebyshev fit of erfc(z) e^{z^2} in t = 1/(1+z/2)),
//   fractional error < 1.2e-7 for z >= 0 in exact arithmetic; in f32 the rounding of -z^2
//   bounds it by about 5e-6 where erfc is below 1e-30, and 1e-6 for |x| < 5.
#pragma once

#include <cmath>

#include "kernels/cpu/fast_exp.h"

namespace kiln::cpu {

[[gnu::always_inline]] inline float fast_tanh(float x) {
  constexpr float kClamp = 7.99881172180175781f;
  float xc = x < -kClamp ? -kClamp : (x > kClamp ? kClamp : x);
  float x2 = xc * xc;
  float p = -2.76076847742355e-16f;
  p = p * x2 + 2.00018790482477e-13f;
  p = p * x2 + -8.60467152213735e-11f;
  p = p * x2 + 5.12229709037114e-08f;
  p = p * x2 + 1.48572235717979e-05f;
  p = p * x2 + 6.37261928875436e-04f;
  p = p * x2 + 4.89352455891786e-03f;
  p = p * xc;
  float q = 1.19825839466702e-06f;
  q = q * x2 + 1.18534705686654e-04f;
  q = q * x2 + 2.26843463243900e-03f;
  q = q * x2 + 4.89352518554385e-03f;
  float r = p / q;
  return std::fabs(x) < 0.0004f ? x : r;
}

[[gnu::always_inline]] inline float fast_erfc(float x) {
  float z = std::fabs(x);
  float t = 1.0f / (1.0f + 0.5f * z);
  float p = 0.17087277f;
  p = p * t - 0.82215223f;
  p = p * t + 1.48851587f;
  p = p * t - 1.13520398f;
  p = p * t + 0.27886807f;
  p = p * t - 0.18628806f;
  p = p * t + 0.09678418f;
  p = p * t + 0.37409196f;
  p = p * t + 1.00002368f;
  p = p * t - 1.26551223f;
  float ans = t * fast_exp(-z * z + p);
  return x >= 0 ? ans : 2.0f - ans;
}

template <class A>
[[gnu::always_inline]] inline A tanh_acc(A x) {
  if constexpr (sizeof(A) == 4) return fast_tanh(x);
  else return std::tanh(x);
}

template <class A>
[[gnu::always_inline]] inline A erfc_acc(A x) {
  if constexpr (sizeof(A) == 4) return fast_erfc(x);
  else return std::erfc(x);
}

}  // namespace kiln::cpu
