// Kernel table of the matrix-product family.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// out [..., M, N] = a [..., M, K] @ b [..., K, N]. The op hands over a and b already broadcast
/// to out's batch dims (zero strides where broadcast) and transposed through their strides;
/// each operand's matrix dims have a unit stride in one of them, the other at least the extent
/// it steps over (the op copies anything else). out is contiguous; M, N, K >= 1.
using MatmulKernel = void(const Tensor& out, const Tensor& a, const Tensor& b);

inline constinit KernelTable<MatmulKernel> matmul_kernels{"matmul"};

}  // namespace kiln::ops
