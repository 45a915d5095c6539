// Losses. cross_entropy is fused: log-softmax, the pick of the target and its gradient in one
// pass, without materialising the log-probabilities of a large vocabulary twice.
#pragma once

#include "core/tensor/tensor.h"

namespace kiln::ops {

enum class Reduction { mean, sum, none };

struct CrossEntropyOptions {
  /// Targets equal to this are skipped (contribute no loss and no gradient).
  int64_t ignore_index = -100;
  /// Mixes the one-hot target with the uniform distribution: (1 - s) one_hot + s / C.
  double label_smoothing = 0.0;
  /// mean divides by the number of targets not ignored.
  Reduction reduction = Reduction::mean;
};

/// logits [..., C] (floating), target [...] (i32/i64 class ids). The loss is f32 for bf16/f16
/// logits and the logits' dtype otherwise; per element with Reduction::none.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opts = {});
/// The unfused composition (log_softmax, gather, masks), the reference for the fused kernel.
Tensor cross_entropy_reference(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opts = {});

}  // namespace kiln::ops
