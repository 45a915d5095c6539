// Elementwise ops: arithmetic with numpy broadcasting, unary math, activations, comparisons,
// selection. Operands must share dtype and device (a double operand takes the tensor's dtype);
// a mismatch is an error naming the op and both shapes/dtypes/devices.
#pragma once

#include <optional>

#include "core/tensor/tensor.h"
#include "kernels/op_codes.h"

namespace kiln::ops {

// ---- binary, broadcasting, differentiable ---------------------------------------------------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
/// a^b elementwise (floating).
Tensor pow(const Tensor& a, const Tensor& b);
/// Elementwise max/min; at ties the gradient is split equally between a and b.
Tensor maximum(const Tensor& a, const Tensor& b);
Tensor minimum(const Tensor& a, const Tensor& b);
Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b);

// ---- with a scalar --------------------------------------------------------------------------
Tensor add(const Tensor& a, double b);
Tensor sub(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor div(const Tensor& a, double b);
/// x^p with a scalar exponent.
Tensor pow(const Tensor& x, double p);
/// x * scale + shift in one pass.
Tensor affine(const Tensor& x, double scale, double shift);

// ---- unary, differentiable ------------------------------------------------------------------
Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor sqrt(const Tensor& x);
Tensor rsqrt(const Tensor& x);
Tensor abs(const Tensor& x);
Tensor square(const Tensor& x);
Tensor sin(const Tensor& x);
Tensor cos(const Tensor& x);
Tensor reciprocal(const Tensor& x);
/// sign(x) in {-1, 0, 1}; its gradient is zero.
Tensor sign(const Tensor& x);
/// Clamps to [lo, hi]; either bound may be absent. The gradient passes where lo <= x <= hi.
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi);

// ---- activations ----------------------------------------------------------------------------
enum class GeluApprox { none, tanh };
Tensor relu(const Tensor& x);
/// GELU: exact x Phi(x), or the tanh approximation of GPT-2.
Tensor gelu(const Tensor& x, GeluApprox approx = GeluApprox::none);
Tensor silu(const Tensor& x);
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
/// (1/beta) log(1 + exp(beta x)), reverting to x where beta x > threshold (as PyTorch).
Tensor softplus(const Tensor& x, double beta = 1.0, double threshold = 20.0);
Tensor unary(UnaryOp op, const Tensor& x, double p0 = 0.0, double p1 = 0.0);

// ---- comparisons and selection (not differentiable, except where() in a and b) --------------
Tensor compare(CompareOp op, const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, const Tensor& b);
Tensor ne(const Tensor& a, const Tensor& b);
Tensor lt(const Tensor& a, const Tensor& b);
Tensor le(const Tensor& a, const Tensor& b);
Tensor gt(const Tensor& a, const Tensor& b);
Tensor ge(const Tensor& a, const Tensor& b);
Tensor eq(const Tensor& a, double b);
Tensor gt(const Tensor& a, double b);
Tensor lt(const Tensor& a, double b);
Tensor logical_and(const Tensor& a, const Tensor& b);
Tensor logical_or(const Tensor& a, const Tensor& b);
Tensor logical_not(const Tensor& a);
/// cond ? a : b, broadcasting all three; cond is bool. Differentiable in a and b.
Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b);
/// x where mask is false, value where it is true (mask bool, broadcast to x).
Tensor masked_fill(const Tensor& x, const Tensor& mask, double value);

// ---- in place (not recorded; used by optimizers and gradient accumulation) ------------------
/// a += alpha * b (b broadcast to a).
Tensor& add_(Tensor& a, const Tensor& b, double alpha = 1.0);
Tensor& mul_(Tensor& a, double s);

/// Sums a broadcast gradient back to `shape` (the reverse of expand).
Tensor sum_to(const Tensor& g, const Shape& shape);

}  // namespace kiln::ops

namespace kiln {

inline Tensor operator+(const Tensor& a, const Tensor& b) { return ops::add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return ops::sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return ops::mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return ops::div(a, b); }
inline Tensor operator+(const Tensor& a, double b) { return ops::add(a, b); }
inline Tensor operator-(const Tensor& a, double b) { return ops::sub(a, b); }
inline Tensor operator*(const Tensor& a, double b) { return ops::mul(a, b); }
inline Tensor operator/(const Tensor& a, double b) { return ops::div(a, b); }
inline Tensor operator+(double a, const Tensor& b) { return ops::add(b, a); }
inline Tensor operator-(double a, const Tensor& b) { return ops::affine(b, -1.0, a); }
inline Tensor operator*(double a, const Tensor& b) { return ops::mul(b, a); }
inline Tensor operator/(double a, const Tensor& b) { return ops::mul(ops::reciprocal(b), a); }
inline Tensor operator-(const Tensor& a) { return ops::neg(a); }

}  // namespace kiln
