// Fused scaled-dot-product attention on the CPU, tiled as in FlashAttention (Dao et al. 2022;
// FlashAttention-2, Dao 2023): scores are computed one [query block x key block] tile at a
// time and folded into the output with an online softmax, so no [T, S] matrix is ever stored.
//
// Legend (in the compute type A = float or double):
//   B batch, H query heads, Hkv key/value heads (Hkv divides H; G = H / Hkv query heads share
//   one kv head: head h reads kv head h / G), T queries, S keys, D query/key dim, Dv value dim.
//   q [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv], out [B, H, T, Dv] and their gradients
//   are read and written through strides over their first three dims (AttentionLayout), their
//   last dim contiguous: heads can be views into the packed output of a q/k/v projection
//   ([B, T, 3, H, D]) and the output can be written in [B, T, H, Dv] order, so no head is ever
//   copied into place. lse [B, H, T] is contiguous.
//   bias and mask are read through strides over [B, H, T, S] (0 where broadcast).
//
// Forward, for one row i of one head (scores s_j = scale q.k_j + bias_ij, -inf where masked):
//   m = max_j s_j, l = sum_j exp(s_j - m), P_j = exp(s_j - m) / l, out = sum_j z_j P_j v_j,
// with dropout z_j = keep_j / (1 - p) (z = 1 without dropout). Over key blocks, the running
// max m and sum l are updated as in Milakov & Gimelshein (2018): when a block raises the max
// from m to m', the sums so far are multiplied by c = exp(m - m'):
//   l' = c l + sum_{j in block} exp(s_j - m'),   acc' = c acc + sum_j z_j exp(s_j - m') v_j,
// and out = acc / l at the end. Forward saves only out and lse = m + log l, from which backward
// recomputes P_j = exp(s_j - lse) exactly. A row that sees no key has l = 0: its output is 0
// and its lse is stored as +inf, so that the recomputed P is 0 and its gradient vanishes.
//
// Backward, given dO = dL/dout (one row i):
//   dL/dv_j  += z_j P_j dO                            (dV = (Z.P)^T dO)
//   dL/dP_j   = z_j (dO . v_j)                        (dP = Z.(dO V^T))
//   dL/ds_j   = P_j (dL/dP_j - sum_k P_k dL/dP_k)     (softmax Jacobian)
// and sum_k P_k z_k (dO . v_k) = dO . out =: D_i, a per-row scalar computed once, so
//   dS_j = P_j (z_j (dO . v_j) - D_i),   dq = scale sum_j dS_j k_j,   dk_j += scale dS_j q,
//   dbias_ij = dS_j (summed over the bias's broadcast dims by the caller).
//
// Threads: forward tasks are (b, h, query block). Backward tasks are (b, kv head), each owning
// dk, dv of its kv head and dq of the G query heads that read it; when there are fewer of those
// than threads, backward runs instead as (b, kv head, key chunk) tasks for dk, dv and then
// (b, h, query block) tasks for dq, recomputing the probabilities in each. Every gradient entry
// is accumulated in the same order either way, and a task's arithmetic is the same whichever
// thread runs it, so results are bitwise independent of the thread count.
#pragma once

#include <cstdint>

namespace kiln::cpu {

inline constexpr int64_t kAttentionBlockQ = 64;  ///< query rows per tile
inline constexpr int64_t kAttentionBlockK = 64;  ///< keys per tile

/// Element strides of an operand's batch, head and row (query or key) dims; its last dim is
/// contiguous.
struct AttentionLayout {
  int64_t b = 0, h = 0, r = 0;
};

/// The layout of a contiguous [B, heads, rows, dim] tensor.
inline AttentionLayout contiguous_layout(int64_t heads, int64_t rows, int64_t dim) {
  return {heads * rows * dim, rows * dim, dim};
}

template <class A>
struct AttentionArgs {
  int64_t B = 0, H = 0, Hkv = 0, T = 0, S = 0, D = 0, Dv = 0;
  /// q, k, v, out; the backward's dout, dq, dk, dv. set_contiguous() fills them for contiguous
  /// tensors.
  AttentionLayout q, k, v, out, dout, dq, dk, dv;
  A scale = 1;
  /// Key j is visible to query i when j <= i + S - T (causal, or window > 0) and, with a
  /// window, j > i + S - T - window.
  bool causal = false;
  int64_t window = 0;
  const A* bias = nullptr;  ///< optional, strides over [B, H, T, S] in elements
  int64_t bias_strides[4] = {0, 0, 0, 0};
  const bool* mask = nullptr;  ///< optional, true = may attend; strides over [B, H, T, S]
  int64_t mask_strides[4] = {0, 0, 0, 0};
  /// Dropout on the probabilities: element (b, h, i, j) has flat index ((b*H + h)*T + i)*S + j
  /// in the Philox draw (seed, offset) (see dropout.h).
  double dropout = 0.0;
  uint64_t seed = 0, offset = 0;

  void set_contiguous() {
    q = dq = contiguous_layout(H, T, D);
    k = dk = contiguous_layout(Hkv, S, D);
    v = dv = contiguous_layout(Hkv, S, Dv);
    out = dout = contiguous_layout(H, T, Dv);
  }
};

/// out, lse from q, k, v (lse of a row that sees no key is +inf).
template <class A>
void attention_forward(A* out, A* lse, const A* q, const A* k, const A* v,
                       const AttentionArgs<A>& args, int threads);

/// dq, dk, dv (overwritten) and, when dbias is not null, dbias [B, H, T, S] (contiguous; only
/// visible entries are written, so it must arrive zeroed) from dout and the forward's out, lse.
/// dq, dk, dv must not overlap each other or the inputs (they may be slices of one buffer).
template <class A>
void attention_backward(A* dq, A* dk, A* dv, A* dbias, const A* dout, const A* q, const A* k,
                        const A* v, const A* out, const A* lse, const AttentionArgs<A>& args,
                        int threads);

}  // namespace kiln::cpu
