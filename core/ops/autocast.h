// Autocast: a per-thread mode in which matmul, bmm and linear compute f32 operands in a lower
// precision (bf16 or f16) and return f32, as torch.autocast does for matmuls. Parameters stay
// f32 (the optimizer updates the f32 "master" weights), only the products are rounded.
//
// Why a mode in the ops rather than casts in the model: every model and layer plugin gets it
// for free, and the trainer switches it on around the forward pass alone. The casts are
// recorded on the tape, so backward runs the same products in the low precision too (the
// gradients come back to the f32 parameters through the casts' backward). The mode is read
// when an op records, not when backward runs, so backward needs no mode of its own.
//
// Other ops (softmax, norms, attention, cross-entropy) keep f32, which is what keeps
// low-precision training stable. On a CPU without native bf16 GEMM this is no faster than f32
// (the products widen to f32 inside the kernel); it is there for the results and for GPUs.
#pragma once

#include "core/tensor/dtype.h"

namespace kiln::ops {

/// The dtype f32 matmul operands are cast to in this thread: f32 means autocast is off.
DType autocast_dtype();

/// Sets the autocast dtype of this thread for a scope (f32 turns autocast off).
class Autocast {
 public:
  /// dtype: bf16 or f16 to cast to, f32 for none. Throws on any other dtype.
  explicit Autocast(DType dtype);
  ~Autocast();
  Autocast(const Autocast&) = delete;
  Autocast& operator=(const Autocast&) = delete;

 private:
  DType saved_;
};

}  // namespace kiln::ops
