// Kernel tables of the reduction family.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"
#include "kernels/op_codes.h"

namespace kiln::ops {

/// Reduces the middle dim of contiguous x viewed as [outer, rows, inner] into contiguous out
/// ([outer, inner] elements). Keyed by x's dtype; out is x's dtype, or i64 for integer sums.
using ReduceKernel = void(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows,
                          int64_t inner);

inline constinit KernelTable<ReduceKernel> reduce_kernels{"reduce"};

}  // namespace kiln::ops
