// Kernel tables of the loss family. Logits are contiguous [N, C], targets contiguous [N]
// (i32/i64, checked: in [0, C) or ignore_index); per-row losses, log-sum-exps and incoming
// gradients are [N] in the compute dtype (f64 for f64 logits, f32 otherwise). Keyed by the
// logits' dtype.
#pragma once

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// Writes each row's loss and log-sum-exp; returns the number of rows not ignored.
using CrossEntropyKernel = int64_t(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                                   const Tensor& target, int64_t ignore_index,
                                   double label_smoothing);
/// dlogits = grad_row * scale * (softmax - target distribution), 0 on ignored rows. grad is
/// [N], or 0-d when one gradient serves every row.
using CrossEntropyBackwardKernel = void(const Tensor& dlogits, const Tensor& grad, double scale,
                                        const Tensor& logits, const Tensor& lse,
                                        const Tensor& target, int64_t ignore_index,
                                        double label_smoothing);

inline constinit KernelTable<CrossEntropyKernel> cross_entropy_kernels{"cross_entropy"};
inline constinit KernelTable<CrossEntropyBackwardKernel> cross_entropy_backward_kernels{
    "cross_entropy_backward"};

}  // namespace kiln::ops
