// Matrix products. f32 and bf16 run on oneDNN's matmul primitive (primitives cached by shape,
// layout and dtype; bf16 and f16 go through f32 where the CPU has no native support); f64 has a
// plain kernel for gradient checks. See kernels/cpu/gemm.h.
#pragma once

#include "core/tensor/tensor.h"

namespace kiln::ops {

/// a [..., M, K] @ b [..., K, N] -> [..., M, N], batch dims broadcast (numpy rules). 1-d
/// operands are treated as a row (a) or a column (b) and that dim is removed from the result.
/// trans_a / trans_b use the transpose of the last two dims of a / b without copying (the flag
/// of a 1-d operand is ignored). bf16 inputs produce a bf16 result accumulated in f32.
Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a = false, bool trans_b = false);
/// Batched product of 3-d tensors [B, M, K] @ [B, K, N] (no broadcasting).
Tensor bmm(const Tensor& a, const Tensor& b);
/// x [..., in] @ weight[out, in]^T + bias[out] (bias may be undefined), as torch.nn.Linear.
/// The bias is added inside the GEMM, and leading dims of x laid out row after row fold into
/// one GEMM with their product as its rows.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

}  // namespace kiln::ops
