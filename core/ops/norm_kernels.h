// Kernel tables of the norm family. x, out, dout and dx are contiguous [N, C]; weight, bias and
// their gradients are [C] in x's dtype; mean and rstd are [N] in f32 (f64 for f64 input).
// Optional operands are undefined tensors. Keyed by x's dtype.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

using LayerNormKernel = void(const Tensor& out, const Tensor& mean, const Tensor& rstd,
                             const Tensor& x, const Tensor& weight, const Tensor& bias, double eps);
using RmsNormKernel = void(const Tensor& out, const Tensor& rstd, const Tensor& x,
                           const Tensor& weight, double eps);
/// Layer norm backward when mean is defined, RMS norm backward when it is not. dx, dweight and
/// dbias are outputs, each skipped when undefined.
using NormBackwardKernel = void(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                                const Tensor& dout, const Tensor& x, const Tensor& weight,
                                const Tensor& mean, const Tensor& rstd);

inline constinit KernelTable<LayerNormKernel> layer_norm_kernels{"layer_norm"};
inline constinit KernelTable<RmsNormKernel> rms_norm_kernels{"rms_norm"};
inline constinit KernelTable<NormBackwardKernel> norm_backward_kernels{"norm_backward"};

}  // namespace kiln::ops
