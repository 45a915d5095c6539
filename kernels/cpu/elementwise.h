// Elementwise math: the scalar functions, their derivatives, and strided runs over them.
//
// Legend: T is the storage type (double, float, bf16, f16), A = acc_t<T> the compute type
// (double for f64, float otherwise). A run is n elements; steps are in bytes per operand (see
// strided_loop.h). Each run has a contiguous fast path the compiler vectorises.
#pragma once

#include <cmath>
#include <cstdint>
#include <type_traits>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/fast_math.h"
#include "kernels/op_codes.h"

namespace kiln::cpu {

template <class A>
inline A sigmoid_of(A x) {
  return A(1) / (A(1) + exp_acc(-x));
}

// sqrt(2/pi) and the cubic coefficient of the tanh approximation of GELU (Hendrycks & Gimpel).
inline constexpr double kGeluTanhScale = 0.7978845608028654;
inline constexpr double kGeluTanhCubic = 0.044715;
inline constexpr double kInvSqrt2 = 0.7071067811865476;
inline constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <UnaryOp op, class A>
inline A unary_fn(A x, A p0, A p1) {
  if constexpr (op == UnaryOp::neg) return -x;
  else if constexpr (op == UnaryOp::exp) return exp_acc(x);
  else if constexpr (op == UnaryOp::log) return std::log(x);
  else if constexpr (op == UnaryOp::sqrt) return std::sqrt(x);
  else if constexpr (op == UnaryOp::rsqrt) return A(1) / std::sqrt(x);
  else if constexpr (op == UnaryOp::abs) return std::abs(x);
  else if constexpr (op == UnaryOp::sign) return A((x > 0) - (x < 0));
  else if constexpr (op == UnaryOp::square) return x * x;
  else if constexpr (op == UnaryOp::sin) return std::sin(x);
  else if constexpr (op == UnaryOp::cos) return std::cos(x);
  else if constexpr (op == UnaryOp::reciprocal) return A(1) / x;
  else if constexpr (op == UnaryOp::relu) return x < A(0) ? A(0) : x;  // NaN propagates, as in PyTorch
  // Phi(x) = erfc(-x / sqrt 2) / 2: no cancellation for negative x, unlike (1 + erf) / 2.
  else if constexpr (op == UnaryOp::gelu) return A(0.5) * x * erfc_acc(-x * A(kInvSqrt2));
  else if constexpr (op == UnaryOp::gelu_tanh)
    return A(0.5) * x * (A(1) + tanh_acc(A(kGeluTanhScale) * (x + A(kGeluTanhCubic) * x * x * x)));
  else if constexpr (op == UnaryOp::silu) return x * sigmoid_of(x);
  else if constexpr (op == UnaryOp::sigmoid) return sigmoid_of(x);
  else if constexpr (op == UnaryOp::tanh) return tanh_acc(x);
  else if constexpr (op == UnaryOp::softplus) {
    A bx = p0 * x;
    // log1p(exp(bx)) without overflow: max(bx, 0) + log1p(exp(-|bx|)).
    return bx > p1 ? x : (std::max(bx, A(0)) + std::log1p(std::exp(-std::abs(bx)))) / p0;
  } else if constexpr (op == UnaryOp::clamp) return x < p0 ? p0 : (x > p1 ? p1 : x);
  else if constexpr (op == UnaryOp::pow_scalar) return std::pow(x, p0);
  else if constexpr (op == UnaryOp::affine) return x * p0 + p1;
}

/// d unary_fn / dx at x, given y = unary_fn(x). At kinks the one-sided choice PyTorch makes:
/// relu'(0) = 0, abs'(0) = 0, clamp passes the gradient at the bounds.
template <UnaryOp op, class A>
inline A unary_grad_fn(A x, A y, A p0, A p1) {
  if constexpr (op == UnaryOp::neg) return A(-1);
  else if constexpr (op == UnaryOp::exp) return y;
  else if constexpr (op == UnaryOp::log) return A(1) / x;
  else if constexpr (op == UnaryOp::sqrt) return A(0.5) / y;
  else if constexpr (op == UnaryOp::rsqrt) return A(-0.5) * y * y * y;
  else if constexpr (op == UnaryOp::abs) return A((x > 0) - (x < 0));
  else if constexpr (op == UnaryOp::sign) return A(0);
  else if constexpr (op == UnaryOp::square) return A(2) * x;
  else if constexpr (op == UnaryOp::sin) return std::cos(x);
  else if constexpr (op == UnaryOp::cos) return -std::sin(x);
  else if constexpr (op == UnaryOp::reciprocal) return -y * y;
  else if constexpr (op == UnaryOp::relu) return x > 0 ? A(1) : A(0);
  else if constexpr (op == UnaryOp::gelu) {
    // d/dx [x Phi(x)] = Phi(x) + x phi(x)
    A cdf = A(0.5) * erfc_acc(-x * A(kInvSqrt2));
    A pdf = A(kInvSqrt2Pi) * exp_acc(A(-0.5) * x * x);
    return cdf + x * pdf;
  } else if constexpr (op == UnaryOp::gelu_tanh) {
    // y = x/2 (1 + tanh u), u = s (x + c x^3): y' = (1 + t)/2 + x/2 (1 - t^2) s (1 + 3 c x^2)
    A u = A(kGeluTanhScale) * (x + A(kGeluTanhCubic) * x * x * x);
    A t = tanh_acc(u);
    return A(0.5) * (A(1) + t) +
           A(0.5) * x * (A(1) - t * t) * A(kGeluTanhScale) * (A(1) + A(3 * kGeluTanhCubic) * x * x);
  } else if constexpr (op == UnaryOp::silu) {
    A s = sigmoid_of(x);
    return s * (A(1) + x * (A(1) - s));
  } else if constexpr (op == UnaryOp::sigmoid) return y * (A(1) - y);
  else if constexpr (op == UnaryOp::tanh) return A(1) - y * y;
  else if constexpr (op == UnaryOp::softplus) return p0 * x > p1 ? A(1) : sigmoid_of(p0 * x);
  else if constexpr (op == UnaryOp::clamp) return (x >= p0 && x <= p1) ? A(1) : A(0);
  else if constexpr (op == UnaryOp::pow_scalar) return p0 == A(0) ? A(0) : p0 * std::pow(x, p0 - A(1));
  else if constexpr (op == UnaryOp::affine) return p0;
}

template <BinaryOp op, class A>
inline A binary_fn(A a, A b) {
  if constexpr (op == BinaryOp::add) return a + b;
  else if constexpr (op == BinaryOp::sub) return a - b;
  else if constexpr (op == BinaryOp::mul) return a * b;
  else if constexpr (op == BinaryOp::div) {
    if constexpr (std::is_integral_v<A>) {
      // C division traps (SIGFPE) on b == 0, which the op layer refuses, and on MIN / -1,
      // which wraps here as the other integer ops do (two's complement, well defined in C++20).
      if (b == A(-1)) return A(std::make_unsigned_t<A>(0) - std::make_unsigned_t<A>(a));
    }
    return a / b;
  }
  else if constexpr (op == BinaryOp::pow) return std::pow(a, b);
  else if constexpr (op == BinaryOp::maximum) return (a != a || a > b) ? a : b;  // NaN propagates
  else if constexpr (op == BinaryOp::minimum) return (a != a || a < b) ? a : b;
}

template <CompareOp op, class A>
inline bool compare_fn(A a, A b) {
  if constexpr (op == CompareOp::eq) return a == b;
  else if constexpr (op == CompareOp::ne) return a != b;
  else if constexpr (op == CompareOp::lt) return a < b;
  else if constexpr (op == CompareOp::le) return a <= b;
  else if constexpr (op == CompareOp::gt) return a > b;
  else if constexpr (op == CompareOp::ge) return a >= b;
  else if constexpr (op == CompareOp::logical_and) return a != A(0) && b != A(0);
  else if constexpr (op == CompareOp::logical_or) return a != A(0) || b != A(0);
}

template <class T>
inline acc_t<T> load(const char* p, int64_t i, int64_t step) {
  return cast_value<acc_t<T>>(*reinterpret_cast<const T*>(p + i * step));
}
template <class T, class A>
inline void store(char* p, int64_t i, int64_t step, A v) {
  *reinterpret_cast<T*>(p + i * step) = cast_value<T>(v);
}

template <UnaryOp op, class T>
void unary_run(char* out, const char* in, int64_t n, int64_t so, int64_t si, double p0, double p1) {
  using A = acc_t<T>;
  const A a0 = A(p0), a1 = A(p1);
  constexpr int64_t sz = sizeof(T);
  if (so == sz && si == sz) {
    T* o = reinterpret_cast<T*>(out);
    const T* x = reinterpret_cast<const T*>(in);
    for (int64_t i = 0; i < n; ++i) o[i] = cast_value<T>(unary_fn<op, A>(cast_value<A>(x[i]), a0, a1));
  } else {
    for (int64_t i = 0; i < n; ++i) store<T>(out, i, so, unary_fn<op, A>(load<T>(in, i, si), a0, a1));
  }
}

/// The tanh GELU's derivative read off its f32 output, for contiguous runs. With y = x (1 + t)/2
/// the factor (1 + t)/2 is y / x, so tanh need not be evaluated again (40% less time than
/// unary_grad_fn): y' = y/x + x/2 (1 - t^2) s (1 + 3 c x^2), t = 2 y/x - 1. y/x carries y's
/// rounding, 2^-24 relative, so for |x| <= 4 this is as close as the f32 tanh that
/// unary_grad_fn recomputes. Near x = 0, where y/x loses its digits, (1 + t)/2 = 1/2 + s x / 2 +
/// O(x^3). For |x| >= 6 the derivative is 1 (or 0) to within 1e-9, which f32's saturated tanh
/// cannot give (1 - t^2 would be a few ulps of 1 times s x (1 + 3 c x^2) / 2 ~ 10 to 100): the
/// asymptote is used there. Not for bf16/f16 storage: there y keeps only 8 or 11 bits.
inline void gelu_tanh_grad_from_output(float* __restrict dx, const float* __restrict g,
                                       const float* __restrict x, const float* __restrict y,
                                       int64_t n) {
  constexpr float s = float(kGeluTanhScale), c3 = float(3 * kGeluTanhCubic);
#pragma omp simd
  for (int64_t i = 0; i < n; ++i) {
    const float xi = x[i];
    const float h = std::fabs(xi) > 1e-3f ? y[i] / xi : 0.5f + 0.5f * s * xi;  // (1 + t)/2
    const float t = 2.0f * h - 1.0f;
    const float d = h + 0.5f * xi * (1.0f - t * t) * s * (1.0f + c3 * xi * xi);
    dx[i] = g[i] * (xi >= 6.0f ? 1.0f : (xi <= -6.0f ? 0.0f : d));
  }
}

/// dx = g * f'(x) (y = f(x) is passed for the ops whose derivative is cheaper from it).
template <UnaryOp op, class T>
void unary_grad_run(char* dx, const char* g, const char* x, const char* y, int64_t n, const int64_t* step,
                    double p0, double p1) {
  using A = acc_t<T>;
  const A a0 = A(p0), a1 = A(p1);
  constexpr int64_t sz = sizeof(T);
  if constexpr (op == UnaryOp::gelu_tanh && std::is_same_v<T, float>) {
    if (step[0] == sz && step[1] == sz && step[2] == sz && step[3] == sz) {
      gelu_tanh_grad_from_output(reinterpret_cast<float*>(dx), reinterpret_cast<const float*>(g),
                                 reinterpret_cast<const float*>(x),
                                 reinterpret_cast<const float*>(y), n);
      return;
    }
  }
  if (step[0] == sz && step[1] == sz && step[2] == sz && step[3] == sz) {
    T* o = reinterpret_cast<T*>(dx);
    const T* gp = reinterpret_cast<const T*>(g);
    const T* xp = reinterpret_cast<const T*>(x);
    const T* yp = reinterpret_cast<const T*>(y);
    for (int64_t i = 0; i < n; ++i)
      o[i] = cast_value<T>(cast_value<A>(gp[i]) *
                           unary_grad_fn<op, A>(cast_value<A>(xp[i]), cast_value<A>(yp[i]), a0, a1));
  } else {
    for (int64_t i = 0; i < n; ++i)
      store<T>(dx, i, step[0],
               load<T>(g, i, step[1]) * unary_grad_fn<op, A>(load<T>(x, i, step[2]), load<T>(y, i, step[3]), a0, a1));
  }
}

template <BinaryOp op, class T>
void binary_run(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa, int64_t sb) {
  using A = acc_t<T>;
  constexpr int64_t sz = sizeof(T);
  T* o = reinterpret_cast<T*>(out);
  const T* x = reinterpret_cast<const T*>(a);
  const T* y = reinterpret_cast<const T*>(b);
  if (so == sz && sa == sz && sb == sz) {
    for (int64_t i = 0; i < n; ++i) o[i] = cast_value<T>(binary_fn<op, A>(cast_value<A>(x[i]), cast_value<A>(y[i])));
  } else if (so == sz && sa == sz && sb == 0) {
    const A yb = cast_value<A>(*y);
    for (int64_t i = 0; i < n; ++i) o[i] = cast_value<T>(binary_fn<op, A>(cast_value<A>(x[i]), yb));
  } else if (so == sz && sa == 0 && sb == sz) {
    const A xa = cast_value<A>(*x);
    for (int64_t i = 0; i < n; ++i) o[i] = cast_value<T>(binary_fn<op, A>(xa, cast_value<A>(y[i])));
  } else {
    for (int64_t i = 0; i < n; ++i) store<T>(out, i, so, binary_fn<op, A>(load<T>(a, i, sa), load<T>(b, i, sb)));
  }
}

template <CompareOp op, class T>
void compare_run(char* out, const char* a, const char* b, int64_t n, int64_t so, int64_t sa, int64_t sb) {
  using A = acc_t<T>;
  for (int64_t i = 0; i < n; ++i)
    *reinterpret_cast<bool*>(out + i * so) = compare_fn<op, A>(load<T>(a, i, sa), load<T>(b, i, sb));
}

/// out = cond ? a : b
template <class T>
void where_run(char* out, const char* cond, const char* a, const char* b, int64_t n, const int64_t* step) {
  for (int64_t i = 0; i < n; ++i)
    *reinterpret_cast<T*>(out + i * step[0]) = *reinterpret_cast<const bool*>(cond + i * step[1])
                                                   ? *reinterpret_cast<const T*>(a + i * step[2])
                                                   : *reinterpret_cast<const T*>(b + i * step[3]);
}

}  // namespace kiln::cpu
