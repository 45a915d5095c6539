// Normalisation layers' functional forms, fused (one pass forward, one backward) with the
// statistics saved for backward, as llm.c does.
#pragma once

#include "core/tensor/tensor.h"

namespace kiln::ops {

/// (x - mean) / sqrt(var + eps) * weight + bias over the last dim; weight and bias [D] are
/// optional (undefined).
Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
/// x / sqrt(mean(x^2) + eps) * weight over the last dim; weight [D] optional.
Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps = 1e-6);

/// The same functions composed from elementwise ops and reductions: the references the fused
/// kernels are tested against.
Tensor layer_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps = 1e-5);
Tensor rms_norm_reference(const Tensor& x, const Tensor& weight, double eps = 1e-6);

}  // namespace kiln::ops
