// Gradient clipping by global norm.
#pragma once

#include <vector>

#include "core/tensor/tensor.h"

namespace kiln::train {

/// The L2 norm of all gradients of `params` taken together (params without a gradient are
/// skipped). Squares are summed in f64 in a fixed order, parameter by parameter and within a
/// parameter in fixed chunks, so the result does not depend on the thread count.
double grad_norm(const std::vector<Tensor>& params);

/// Scales the gradients so that their global norm is at most max_norm, as PyTorch's
/// clip_grad_norm_: each is multiplied by min(1, max_norm / (norm + 1e-6)). Returns the norm
/// before clipping. A non-finite norm leaves the gradients unchanged (scaling by NaN helps no
/// one): the caller sees it in the return value and can skip the step.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

}  // namespace kiln::train
