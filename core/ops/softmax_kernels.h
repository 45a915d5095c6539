// Kernel tables of the softmax family: softmax, log_softmax (forward and backward) and
// logsumexp. Operands are contiguous and viewed as [outer, n, inner], the op running along n.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// y = softmax(x) (log_softmax when `log`) along the middle dim; y and x have one shape.
using SoftmaxKernel = void(const Tensor& y, const Tensor& x, int64_t outer, int64_t n,
                           int64_t inner, bool log);
/// dx from the output gradient g and the forward output y (all contiguous, one shape).
using SoftmaxGradKernel = void(const Tensor& dx, const Tensor& g, const Tensor& y, int64_t outer,
                               int64_t n, int64_t inner, bool log);
/// out ([outer, inner] elements) = log(sum(exp(x))) along the middle dim, max-shifted.
using LogsumexpKernel = void(const Tensor& out, const Tensor& x, int64_t outer, int64_t n,
                             int64_t inner);

inline constinit KernelTable<SoftmaxKernel> softmax_kernels{"softmax"};
inline constinit KernelTable<SoftmaxGradKernel> softmax_grad_kernels{"softmax_backward"};
inline constinit KernelTable<LogsumexpKernel> logsumexp_kernels{"logsumexp"};

}  // namespace kiln::ops
