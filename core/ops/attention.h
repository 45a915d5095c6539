// Scaled dot-product attention, fused and tiled (flash-attention style: online softmax over
// key blocks, log-sum-exp saved for backward) so that memory grows linearly with sequence
// length, and rotary position embedding.
#pragma once

#include <optional>

#include "core/tensor/random.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

struct AttentionOptions {
  /// Query i (of T) sees key j (of S) only when j <= i + (S - T): aligned at the end, so a
  /// query block appended to a KV cache sees every cached key.
  bool causal = false;
  /// bool, broadcastable to [B, H, T, S]; true = may attend.
  Tensor mask;
  /// Added to the scores before softmax, broadcastable to [B, H, T, S] (ALiBi slopes, T5
  /// relative position bias); differentiable.
  Tensor bias;
  /// When > 0, query i sees only the last `window` keys up to its own position: keys j with
  /// i + (S - T) - window < j <= i + (S - T) (a window implies the causal bound).
  int64_t window = 0;
  /// Dropout on the attention probabilities (training only).
  double dropout = 0.0;
  Generator* generator = nullptr;
  /// Defaults to 1/sqrt(head_dim).
  std::optional<double> scale;
};

/// q [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv] -> [B, H, T, Dv]. Hkv divides H
/// (grouped-query attention: query head h uses key/value head h / (H / Hkv)). A query row that
/// can see no key gives zeros. q, k, v are read through their strides (views of a projection
/// are not copied); the result is laid out [B, T, H, Dv] in memory, so that merging the heads
/// (permute to [B, T, H, Dv], reshape) is free.
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& opts = {});
/// Attention on the packed output of one q/k/v projection, as GPT-2's c_attn makes it: qkv
/// [B, T, (H + 2 Hkv) D] holds q (H heads), then k and v (Hkv heads each) along its last dim.
/// Returns z [B, T, H, D], the heads in the order an output projection reads them. The same
/// function as scaled_dot_product_attention on the split and permuted heads, recorded as one
/// node from qkv: the kernels read the heads in place and backward writes d(qkv) directly, so no
/// head is copied either way.
Tensor packed_attention(const Tensor& qkv, int64_t n_heads, int64_t n_kv_heads,
                        const AttentionOptions& opts = {});
/// The unfused composition of ops (matmul, masks, softmax, dropout, matmul): the reference
/// the fused kernel is tested against. Memory is quadratic in the sequence length.
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& opts = {});

struct RotaryOptions {
  double theta = 10000.0;
  /// Fraction of each head's dims that rotate (GPT-NeoX/Phi partial rotary); the rest pass.
  double fraction = 1.0;
  /// Position of the first row (for a KV-cached continuation).
  int64_t position_offset = 0;
};

/// Rotary position embedding on x [B, H, T, D] (positions along T): dims are paired as
/// (i, i + R/2) for R rotated dims (the GPT-NeoX / LLaMA layout of Hugging Face).
Tensor rotary_embedding(const Tensor& x, const RotaryOptions& opts = {});
/// The same from elementwise ops (reference).
Tensor rotary_embedding_reference(const Tensor& x, const RotaryOptions& opts = {});

}  // namespace kiln::ops
