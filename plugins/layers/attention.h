// Multi-head causal self-attention with grouped-query heads (GQA/MQA), an optional sliding
// window, dropout, qk-norm, RoPE or ALiBi, document masks for packed rows and a KV cache.
//
// Parameters (the projection names of Hugging Face's GPT-2, in torch.nn.Linear's [out, in]
// layout, i.e. the transpose of GPT-2's Conv1D weights):
//   c_attn.weight [(H + 2 Hkv) D, d_model], c_attn.bias: the rows are q (H heads of D), then
//     k (Hkv heads), then v (Hkv heads); each head's D rows are contiguous.
//   c_proj.weight [d_model, H D], c_proj.bias: the output projection (into the residual).
//   q_norm.weight [D], k_norm.weight [D]: with qk_norm, an RMSNorm of each head's q and k.
//
// Hook points (TransformerLens names and shapes): hook_q [B, T, H, D], hook_k and hook_v
// [B, T, Hkv, D] (after qk-norm, before RoPE), hook_rot_q / hook_rot_k (after RoPE, when the
// model uses it),
// hook_attn_scores and hook_pattern [B, H, T, S] (masked scores are -inf), hook_z [B, T, H, D].
// The fused attention op never forms the [B, H, T, S] scores: they are computed, unfused,
// only while a hook is set on hook_attn_scores or hook_pattern.
#pragma once

#include <memory>
#include <vector>

#include "core/nn/layer.h"
#include "core/ops/attention.h"
#include "plugins/layers/common.h"
#include "plugins/layers/norm.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

struct AttentionConfig {
  int64_t d_model = 0;
  int64_t n_heads = 0;
  int64_t n_kv_heads = 0;  ///< 0 = n_heads (multi-head); 1 = multi-query
  int64_t head_dim = 0;    ///< 0 = d_model / n_heads
  bool causal = true;
  int64_t window = 0;    ///< > 0: each query sees only the last `window` keys (itself included)
  double dropout = 0.0;  ///< on the attention probabilities, in training
  bool qk_norm = false;
  double qk_norm_eps = 1e-6;
  bool bias = true;
  double scale = 0.0;  ///< 0 = 1 / sqrt(head_dim)
};

class Attention : public nn::Layer, public Initializable {
 public:
  /// pos: the model's relative position scheme (RoPE, ALiBi), or null.
  Attention(const AttentionConfig& config, std::shared_ptr<Positions> pos);
  /// x [B, T, d_model] -> [B, T, d_model].
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;

  const AttentionConfig& config() const { return c_; }
  /// This layer's entry in ForwardState::cache (the model numbers its attention layers).
  void set_cache_slot(int64_t slot) { slot_ = slot; }
  int64_t cache_slot() const { return slot_; }
  /// An empty cache entry for this layer: k and v [batch, Hkv, capacity, D].
  nn::KVCache::Entry make_cache_entry(int64_t batch, int64_t capacity, DType dtype) const;
  /// FLOPs of forward + backward per token for the scores and the weighted sum at sequence
  /// length T (PaLM's 12 H D T per layer); the projections count among the parameters.
  double attention_flops_per_token(int64_t T) const;

  std::shared_ptr<Linear> c_attn, c_proj;
  std::shared_ptr<RMSNorm> q_norm, k_norm;

 private:
  struct Context {
    PositionInfo where;
    Tensor mask, bias;
  };
  Context context(const nn::ForwardState& state, int64_t B, int64_t T, DType dtype);
  ops::AttentionOptions options(const Context& ctx, nn::ForwardState& state) const;
  /// qkv [B, T, (H + 2 Hkv) D] -> z [B, T, H, D] (contiguous).
  Tensor heads(const Tensor& qkv, nn::ForwardState& state);
  Tensor heads_fused(const Tensor& qkv, nn::ForwardState& state);
  Tensor masks(const nn::ForwardState& state, int64_t B, int64_t T, int64_t S);
  Tensor unfused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                 const Tensor& bias, nn::ForwardState& state);

  AttentionConfig c_;
  std::shared_ptr<Positions> pos_;
  int64_t slot_ = -1;
  nn::HookPoint *hook_q_, *hook_k_, *hook_v_, *hook_attn_scores_, *hook_pattern_, *hook_z_;
  nn::HookPoint *hook_rot_q_ = nullptr, *hook_rot_k_ = nullptr;  // with RoPE only
  std::vector<nn::HookPoint*> inner_hooks_;  // between qkv and z: set, they need the taped ops
};

}  // namespace kiln::layers
