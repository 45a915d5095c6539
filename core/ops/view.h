// View ops: new shape/strides/offset over the same storage. The Tensor methods (reshape,
// permute, narrow, ...) are the public, differentiable API; the functions here are the
// unrecorded building blocks that ops use on their operands.
#pragma once

#include "core/tensor/tensor.h"

namespace kiln::ops {

/// A view of t's storage with the given geometry, not recorded on the tape.
Tensor as_strided(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset);
/// t broadcast to shape (zero strides), not recorded; throws naming `op` if incompatible.
Tensor broadcast_view(const Tensor& t, const Shape& shape, const char* op = "expand");
/// The strides of a view of t with `shape` when one exists without copying (empty if not).
bool view_strides(const Tensor& t, const Shape& shape, Strides* out);
/// Replaces a single -1 in shape by the size that makes numel match; checks the total.
Shape infer_shape(const Shape& shape, int64_t numel, const char* op);

}  // namespace kiln::ops
