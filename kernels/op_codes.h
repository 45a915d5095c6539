// Codes of the elementwise op families, shared by the op layer and every device's kernels.
#pragma once

#include <cstdint>

namespace kiln {

enum class UnaryOp : uint8_t {
  neg, exp, log, sqrt, rsqrt, abs, sign, square, sin, cos, reciprocal,
  relu, gelu, gelu_tanh, silu, sigmoid, tanh,
  softplus,    // p0 = beta, p1 = threshold: (1/beta) log(1 + exp(beta x)), x where beta x > threshold
  clamp,       // clamp to [p0, p1]
  pow_scalar,  // x^p0
  affine,      // x * p0 + p1
};
inline constexpr int kNumUnaryOps = int(UnaryOp::affine) + 1;

enum class BinaryOp : uint8_t { add, sub, mul, div, pow, maximum, minimum };
inline constexpr int kNumBinaryOps = int(BinaryOp::minimum) + 1;

enum class CompareOp : uint8_t { eq, ne, lt, le, gt, ge, logical_and, logical_or };
inline constexpr int kNumCompareOps = int(CompareOp::logical_or) + 1;

enum class ReduceOp : uint8_t { sum, max, min };

const char* op_name(UnaryOp op);
const char* op_name(BinaryOp op);
const char* op_name(CompareOp op);

}  // namespace kiln
