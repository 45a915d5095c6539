// Multi-head attention with grouped-query heads (GQA/MQA): causal (decoders) or bidirectional
// (encoders) self-attention with an optional sliding window, dropout, qk-norm, RoPE, ALiBi or
// T5's relative bias, document masks for packed rows, key padding and a KV cache; or
// cross-attention (encoder-decoders), whose queries come from the input and whose keys and
// values come from the encoder's memory (ForwardState::memory, padding in memory_padding).
//
// Parameters (the projection names of Hugging Face's GPT-2, in torch.nn.Linear's [out, in]
// layout, i.e. the transpose of GPT-2's Conv1D weights):
//   c_attn.weight [(H + 2 Hkv) D, d_model], c_attn.bias: the rows are q (H heads of D), then
//     k (Hkv heads), then v (Hkv heads); each head's D rows are contiguous.
//   c_proj.weight [d_model, H D], c_proj.bias: the output projection (into the residual).
//   q_norm.weight [D], k_norm.weight [D]: with qk_norm, an RMSNorm of each head's q and k.
// Cross-attention has c_q.weight [H D, d_model] and c_kv.weight [2 Hkv D, d_memory] (k rows,
// then v rows) in place of c_attn; with a KV cache its keys and values of the memory are
// computed once, by the first forward, and kept in the cache.
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
  double scale = 0.0;    ///< 0 = 1 / sqrt(head_dim)
  bool cross = false;    ///< cross-attention: keys and values from ForwardState::memory
  int64_t d_memory = 0;  ///< cross-attention: width of the memory (0 = d_model)
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
  /// An empty cache entry for this layer: k and v [batch, Hkv, capacity, D] (cross-attention:
  /// undefined until the first forward fills them from the memory).
  nn::KVCache::Entry make_cache_entry(int64_t batch, int64_t capacity, DType dtype) const;
  /// Replaces the relative position scheme (a model hands one shared, trained scheme, T5's
  /// bias, to every self-attention layer of a stack). Not for cross-attention.
  void set_positions(std::shared_ptr<Positions> pos);
  const std::shared_ptr<Positions>& positions() const { return pos_; }
  /// FLOPs of forward + backward per token for the scores and the weighted sum at sequence
  /// length T (PaLM's 12 H D T per layer); the projections count among the parameters.
  double attention_flops_per_token(int64_t T) const;

  std::shared_ptr<Linear> c_attn, c_proj;
  std::shared_ptr<Linear> c_q, c_kv;  // cross-attention (in place of c_attn)
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
  /// Cross-attention: x [B, T, d_model] and state.memory -> z [B, T, H, D] (contiguous).
  Tensor cross_heads(const Tensor& x, nn::ForwardState& state);
  /// k and v [B, Hkv, S, D] of the memory.
  std::pair<Tensor, Tensor> memory_kv(const Tensor& memory, nn::ForwardState& state);
  void add_rotary_hooks();
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

/// Gives `pos` to every self-attention layer under `root` that has no position scheme of its
/// own (how a model shares one trained relative scheme, T5's bias, across its layers).
void share_positions(const nn::Module& root, const std::shared_ptr<Positions>& pos);

}  // namespace kiln::layers
