// Kernel tables of the elementwise family. Operands arrive broadcast to the output's shape
// (zero strides where broadcast); outputs are freshly allocated or in-place targets.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"
#include "kernels/op_codes.h"

namespace kiln::ops {

using UnaryKernel = void(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1);
/// dx = g * f'(x), y = f(x) given for the ops whose derivative uses it.
using UnaryGradKernel = void(UnaryOp op, const Tensor& dx, const Tensor& g, const Tensor& x, const Tensor& y,
                             double p0, double p1);
using BinaryKernel = void(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b);
/// out (bool) = a op b; keyed by the operands' dtype.
using CompareKernel = void(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b);
/// out = cond ? a : b; keyed by a's dtype.
using WhereKernel = void(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b);

inline constinit KernelTable<UnaryKernel> unary_kernels{"unary"};
inline constinit KernelTable<UnaryGradKernel> unary_grad_kernels{"unary_backward"};
inline constinit KernelTable<BinaryKernel> binary_kernels{"binary"};
inline constinit KernelTable<CompareKernel> compare_kernels{"compare"};
inline constinit KernelTable<WhereKernel> where_kernels{"where"};

}  // namespace kiln::ops
