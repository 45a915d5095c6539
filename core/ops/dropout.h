// Dropout with counter-based masks: the mask of element i depends only on (seed, offset, i),
// so backward regenerates it instead of storing it, and gradient checkpointing replays it.
#pragma once

#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// Zeroes each element with probability p and scales the rest by 1/(1-p) when training; the
/// identity otherwise (or when p == 0). Draws from gen (the default generator if null).
Tensor dropout(const Tensor& x, double p, bool training = true, Generator* gen = nullptr);
/// The keep-mask dropout draws for `shape` from state `s`: element i is kept when
/// uniform_at(s, i) >= p. Shared by the fused attention and its unfused reference.
Tensor dropout_mask(const Shape& shape, double p, const RngState& s);

}  // namespace kiln::ops
