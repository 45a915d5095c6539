// Matrix products over pointers: C[b] = A[b] @ B[b] for b < batch.
//
// Legend: batch, M, N, K. Element (b, m, k) of A sits at a + b*a_bs + m*a_rs + k*a_cs, in
// elements; B (b, k, n) at b + b*b_bs + k*b_rs + n*b_cs; C (b, m, n) at c + b*c_bs + m*c_rs + n.
// With a bias, C[b, m, n] = bias[n] + sum_k A[b, m, k] B[b, k, n].
// A batch stride of 0 broadcasts that operand over the batch. Each matrix must be a BLAS
// layout: one of its two strides is 1 and the other at least the extent it steps over
// (gemm_layout_ok), so a transposed operand is just swapped strides, never a copy.
//
// f32 runs on oneDNN's matmul primitive. Primitives are cached by (dtype, sizes, strides,
// broadcast, threads), since creating one costs up to milliseconds, in a thread-safe cache.
// A batch whose B is shared (b_bs == 0) and whose A and C rows follow on from one batch to the
// next is folded into M: one [batch*M, K] @ [K, N] product (the linear-layer case).
// bf16 and f16 run natively when this CPU's oneDNN can (AVX512-BF16, ...); otherwise the
// operands are converted to f32 in their own layout, multiplied in f32 and the result rounded
// (to nearest even) — the same f32 accumulation, and what the native path computes.
// f64 (gradient checks) has a plain blocked kernel whose sums run over k in order, so results
// do not depend on the thread count (nor a row's on the other rows).
//
// Batch-invariant products (GemmArgs::batch_invariant; evaluation sets it). oneDNN picks its
// kernel, its blocking and its split of the work by the whole problem's sizes, and even one
// primitive rounds a row differently by where the row sits in its register tiles (measured: the
// rows of an [M, 32] x [32, N] product change when the rows are shifted by 1, 3, 8 or 16), so a
// request's logits would change with the batch it is evaluated in. With the flag, f32 runs on
// kiln's own register-tiled kernel (gemm_tile.h, the fused attention's): every element of C is
// the bias plus one chain of multiply-adds over k in order, so a row of C is a function of its
// row of A, of B and of the bias only. bf16 and f16 take the f32 route under the flag. Cost,
// measured on the 4-layer, 128-wide char GPT-2 (perplexity of its val split, one thread): the
// whole evaluation about 15% slower than with oneDNN.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor/dtype.h"

namespace kiln::cpu {

struct GemmArgs {
  DType dtype = DType::f32;  ///< of A, B and C: f64, f32, bf16 or f16
  int64_t batch = 1, m = 0, n = 0, k = 0;
  const void* a = nullptr;
  int64_t a_bs = 0, a_rs = 0, a_cs = 1;
  const void* b = nullptr;
  int64_t b_bs = 0, b_rs = 0, b_cs = 1;
  void* c = nullptr;
  int64_t c_bs = 0, c_rs = 0;
  /// Optional: N values of the same dtype added to every row of C (a linear layer's bias),
  /// inside the GEMM rather than as a second pass over C.
  const void* bias = nullptr;
  /// OpenMP threads. oneDNN reads the calling thread's omp_get_max_threads(); gemm() sets it
  /// to this value for the calling thread when they differ.
  int threads = 1;
  /// Compute every row of C the same whatever the other rows (see the top of this file).
  bool batch_invariant = false;
};

/// Whether a rows x cols matrix with strides (rs, cs) is a layout gemm() accepts (size-1 dims
/// may have any stride).
bool gemm_layout_ok(int64_t rows, int64_t cols, int64_t rs, int64_t cs);

/// C = A @ B as described by args. Throws std::invalid_argument on a layout gemm_layout_ok
/// refuses, std::runtime_error when oneDNN fails.
void gemm(const GemmArgs& args);

struct GemmStats {
  int64_t primitives_created = 0;  ///< oneDNN primitives made (cache misses)
  int64_t cache_hits = 0;          ///< lookups that found a cached primitive
  int64_t cached = 0;              ///< primitives held in the cache now
};
GemmStats gemm_stats();
/// Empties the primitive cache (the counters keep counting).
void gemm_clear_cache();

/// Whether oneDNN multiplies this dtype natively on this CPU (checked once, on first use);
/// false means gemm() goes through f32. Always true for f32; f64 never uses oneDNN.
bool gemm_native(DType dtype);
/// For tests: with false, bf16 and f16 take the f32 route even where oneDNN has them natively.
void gemm_set_native_enabled(bool on);

/// Scratch memory for conversions and oneDNN's scratchpad. kiln installs its caching CPU
/// allocator here at start-up; the default is aligned_alloc/free.
using GemmAllocFn = void* (*)(size_t nbytes);
using GemmFreeFn = void (*)(void* p, size_t nbytes);
void set_gemm_allocator(GemmAllocFn alloc, GemmFreeFn free);

}  // namespace kiln::cpu
