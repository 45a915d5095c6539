// Batch-invariant products: a switch, per thread, that evaluation turns on so that a request
// scores bit for bit the same in any batch.
#pragma once

namespace kiln::ops {

/// Whether matmul and linear run batch-invariant on this thread (see BatchInvariant).
bool batch_invariant();

/// While alive, matmul and linear on this thread compute each row of their result from that
/// row of the left operand alone, bit for bit the same whatever the other rows: their number
/// (the batch size, the padded length), where the row sits, and the thread count
/// (kernels/cpu/gemm.h: f32 runs on kiln's register-tiled kernel, whose sums run over k in
/// order, instead of oneDNN; an evaluation is about 15% slower). Only the rows are covered: a product whose
/// reduction length changes with the batch (an unfused attention's P V over padded keys) still
/// rounds differently. CPU only; CUDA ignores the flag for now.
class BatchInvariant {
 public:
  explicit BatchInvariant(bool on = true);
  ~BatchInvariant();
  BatchInvariant(const BatchInvariant&) = delete;
  BatchInvariant& operator=(const BatchInvariant&) = delete;

 private:
  bool saved_;
};

}  // namespace kiln::ops
