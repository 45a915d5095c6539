// Kernel tables of the reduction family: reductions, arg-reductions, prefix sums and top-k.
// Operands are contiguous; x is viewed as [outer, rows, inner] with the op along rows.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"
#include "kernels/op_codes.h"

namespace kiln::ops {

/// Reduces the middle dim of contiguous x viewed as [outer, rows, inner] into contiguous out
/// ([outer, inner] elements). Keyed by x's dtype; out is x's dtype, or i64 for integer sums.
using ReduceKernel = void(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows,
                          int64_t inner);
/// out (i64, [outer, inner] elements) = index along rows of the max (or min); rows >= 1.
using ArgReduceKernel = void(bool is_max, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows,
                             int64_t inner);
/// out (x's shape; x's dtype, or i64 for integers) = inclusive prefix sums along rows, or
/// suffix sums when `reverse`.
using CumsumKernel = void(const Tensor& out, const Tensor& x, int64_t outer, int64_t rows, int64_t inner,
                          bool reverse);
/// x [rows, n] -> values [rows, k] (x's dtype) and indices [rows, k] (i64).
using TopkKernel = void(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, bool largest,
                        bool sorted);
/// dx [rows, n] (zeroed by the caller) gets g [rows, k] at indices [rows, k].
using TopkGradKernel = void(const Tensor& dx, const Tensor& g, const Tensor& indices);

inline constinit KernelTable<ReduceKernel> reduce_kernels{"reduce"};
inline constinit KernelTable<ArgReduceKernel> arg_reduce_kernels{"arg_reduce"};
inline constinit KernelTable<CumsumKernel> cumsum_kernels{"cumsum"};
inline constinit KernelTable<TopkKernel> topk_kernels{"topk"};
inline constinit KernelTable<TopkGradKernel> topk_grad_kernels{"topk_backward"};

}  // namespace kiln::ops
