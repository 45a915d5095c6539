#include "plugins/layers/attention.h"

#include <cmath>
#include <limits>
#include <tuple>
#include <utility>

#include "core/autograd/autograd.h"
#include "core/nn/init.h"
#include "core/ops/attention.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/linalg.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

Attention::Attention(const AttentionConfig& config, std::shared_ptr<Positions> pos)
    : c_(config), pos_(std::move(pos)) {
  AttentionConfig& c = c_;
  KILN_CHECK(c.d_model >= 1, "attention: d_model must be >= 1, got ", c.d_model);
  KILN_CHECK(c.n_heads >= 1, "attention: n_heads must be >= 1, got ", c.n_heads);
  if (c.n_kv_heads == 0) c.n_kv_heads = c.n_heads;
  KILN_CHECK(c.n_kv_heads >= 1 && c.n_heads % c.n_kv_heads == 0, "attention: n_kv_heads (",
             c.n_kv_heads, ") must divide n_heads (", c.n_heads, ")");
  if (c.head_dim == 0) {
    KILN_CHECK(c.d_model % c.n_heads == 0, "attention: d_model (", c.d_model,
               ") is not a multiple of n_heads (", c.n_heads, "); set head_dim");
    c.head_dim = c.d_model / c.n_heads;
  }
  KILN_CHECK(c.window >= 0, "attention: window must be >= 0, got ", c.window);
  KILN_CHECK(c.window == 0 || c.causal, "attention: a sliding window needs causal attention");
  if (c.d_memory == 0) c.d_memory = c.d_model;
  KILN_CHECK(!c.cross || (!c.causal && !pos_),
             "attention: cross-attention is neither causal nor positional (the memory is the "
             "encoder's whole output)");
  KILN_CHECK(c.d_memory >= 1, "attention: d_memory must be >= 1, got ", c.d_memory);
  KILN_CHECK(c.dropout >= 0 && c.dropout < 1, "attention: dropout must be in [0, 1), got ",
             c.dropout);
  const int64_t H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim;
  if (c.cross) {
    c_q = register_module("c_q", std::make_shared<Linear>(c.d_model, H * D, c.bias));
    c_kv = register_module("c_kv", std::make_shared<Linear>(c.d_memory, 2 * Hkv * D, c.bias));
  } else {
    c_attn =
        register_module("c_attn", std::make_shared<Linear>(c.d_model, (H + 2 * Hkv) * D, c.bias));
  }
  c_proj = register_module("c_proj", std::make_shared<Linear>(H * D, c.d_model, c.bias));
  if (c.qk_norm) {
    q_norm = register_module("q_norm", std::make_shared<RMSNorm>(D, c.qk_norm_eps));
    k_norm = register_module("k_norm", std::make_shared<RMSNorm>(D, c.qk_norm_eps));
  }
  hook_q_ = &register_hook("hook_q");
  hook_k_ = &register_hook("hook_k");
  hook_v_ = &register_hook("hook_v");
  if (std::dynamic_pointer_cast<RotaryPositions>(pos_)) add_rotary_hooks();
  hook_attn_scores_ = &register_hook("hook_attn_scores");
  hook_pattern_ = &register_hook("hook_pattern");
  hook_z_ = &register_hook("hook_z");
  inner_hooks_.insert(inner_hooks_.end(),
                      {hook_q_, hook_k_, hook_v_, hook_attn_scores_, hook_pattern_});
  for (const auto& norm : {q_norm, k_norm})
    if (norm)
      for (const auto& [name, h] : norm->named_hook_points()) inner_hooks_.push_back(h);
  init_weights(current_init());
}

void Attention::add_rotary_hooks() {
  if (hook_rot_q_) return;
  hook_rot_q_ = &register_hook("hook_rot_q");
  hook_rot_k_ = &register_hook("hook_rot_k");
  inner_hooks_.insert(inner_hooks_.end(), {hook_rot_q_, hook_rot_k_});
}

void Attention::set_positions(std::shared_ptr<Positions> pos) {
  KILN_CHECK(!c_.cross, "attention: cross-attention takes no position scheme");
  KILN_CHECK(!pos || !pos->is_absolute(),
             "attention: absolute positions are added to the embeddings, not in attention");
  pos_ = std::move(pos);
  if (std::dynamic_pointer_cast<RotaryPositions>(pos_)) add_rotary_hooks();
}

void Attention::init_weights(const InitOptions& o) {
  for (const auto& l : {c_attn, c_q, c_kv})
    if (l) l->init_normal(o.std, o.generator);
  const bool scaled = o.scheme == InitOptions::Scheme::gpt2;
  c_proj->init_normal(scaled ? o.std / std::sqrt(2.0 * double(o.n_layers)) : o.std, o.generator);
  if (q_norm) {
    q_norm->init_weights(o);
    k_norm->init_weights(o);
  }
}

nn::KVCache::Entry Attention::make_cache_entry(int64_t batch, int64_t capacity, DType dtype) const {
  nn::KVCache::Entry e;
  e.cross = c_.cross;
  if (c_.cross) return e;
  e.k = zeros({batch, c_.n_kv_heads, capacity, c_.head_dim}, dtype);
  e.v = zeros({batch, c_.n_kv_heads, capacity, c_.head_dim}, dtype);
  return e;
}

double Attention::attention_flops_per_token(int64_t T) const {
  return 12.0 * double(c_.n_heads) * double(c_.head_dim) * double(T);
}

// bool [B, 1, T, S] (or undefined): documents of packed rows and real keys of padded rows.
Tensor Attention::masks(const nn::ForwardState& st, int64_t B, int64_t T, int64_t S) {
  Tensor mask;
  if (st.segment_ids.defined()) {
    const Tensor& seg = st.segment_ids;
    KILN_CHECK(!st.cache,
               "attention: segment_ids (packed documents) cannot be used with a KV cache");
    KILN_CHECK(seg.dim() == 2 && seg.size(0) == B && seg.size(1) == T,
               "attention: segment_ids of shape ", seg.shape(),
               " do not match the input's [B, T] = [", B, ", ", T, "]");
    mask = ops::eq(seg.reshape({B, 1, T, 1}), seg.reshape({B, 1, 1, T}));
  }
  if (st.key_padding.defined()) {
    const Tensor& kp = st.key_padding;
    KILN_CHECK(kp.dtype() == DType::boolean && kp.dim() == 2 && kp.size(0) == B && kp.size(1) == S,
               "attention: key_padding must be bool [B, S] = [", B, ", ", S,
               "] (S counts the cached ", "keys), got ", dtype_name(kp.dtype()), " ", kp.shape());
    Tensor kpm = kp.reshape({B, 1, 1, S});
    mask = mask.defined() ? ops::logical_and(mask, kpm) : kpm;
  }
  return mask;
}

Tensor Attention::forward(const Tensor& x, nn::ForwardState& st) {
  const int64_t H = c_.n_heads, D = c_.head_dim;
  KILN_CHECK(x.dim() == 3 && x.size(2) == c_.d_model, "attention: expected input [B, T, ",
             c_.d_model, "], got ", x.shape());
  const int64_t B = x.size(0), T = x.size(1);
  Tensor z;  // [B, T, H, D]
  if (c_.cross) {
    z = cross_heads(x, st);
  } else {
    Tensor qkv = c_attn->forward(x);  // one GEMM for q, k and v
    bool hooked = false;
    for (const nn::HookPoint* h : inner_hooks_) hooked |= h->active();
    z = !st.cache && !hooked && autograd::needs_grad(qkv) ? heads_fused(qkv, st) : heads(qkv, st);
  }
  z = (*hook_z_)(z);
  return c_proj->forward(z.reshape({B, T, H * D}));
}

// What attention needs besides q, k, v: where the rows sit, the key mask and the score bias.
Attention::Context Attention::context(const nn::ForwardState& st, int64_t B, int64_t T,
                                      DType dtype) {
  Context ctx;
  ctx.where.positions = st.positions;
  ctx.where.offset = st.cache ? st.cache->length : 0;
  ctx.where.T = T;
  const int64_t S = ctx.where.offset + T;
  ctx.mask = masks(st, B, T, S);
  if (pos_) ctx.bias = pos_->attention_bias(c_.n_heads, T, S, dtype);
  return ctx;
}

ops::AttentionOptions Attention::options(const Context& ctx, nn::ForwardState& st) const {
  ops::AttentionOptions o;
  o.causal = c_.causal;
  o.window = c_.window;
  o.mask = ctx.mask;
  o.bias = ctx.bias;
  o.dropout = is_training() ? c_.dropout : 0.0;
  o.generator = st.generator;
  if (c_.scale > 0) o.scale = c_.scale;
  return o;
}

// The heads from the ops as they are, with every hook point and the KV cache.
Tensor Attention::heads(const Tensor& qkv, nn::ForwardState& st) {
  const int64_t H = c_.n_heads, Hkv = c_.n_kv_heads, D = c_.head_dim;
  const int64_t B = qkv.size(0), T = qkv.size(1);
  Tensor q = qkv.narrow(2, 0, H * D).view({B, T, H, D});
  Tensor k = qkv.narrow(2, H * D, Hkv * D).view({B, T, Hkv, D});
  Tensor v = qkv.narrow(2, (H + Hkv) * D, Hkv * D).view({B, T, Hkv, D});
  if (q_norm) {
    q = q_norm->forward(q, st);
    k = k_norm->forward(k, st);
  }
  q = (*hook_q_)(q).permute({0, 2, 1, 3}).contiguous();  // [B, H, T, D]
  k = (*hook_k_)(k).permute({0, 2, 1, 3}).contiguous();
  v = (*hook_v_)(v).permute({0, 2, 1, 3}).contiguous();

  const Context ctx = context(st, B, T, qkv.dtype());
  if (pos_) {
    q = pos_->rotate(q, ctx.where);
    k = pos_->rotate(k, ctx.where);
    if (hook_rot_q_ && hook_rot_q_->active())
      q = (*hook_rot_q_)(q.permute({0, 2, 1, 3})).permute({0, 2, 1, 3}).contiguous();
    if (hook_rot_k_ && hook_rot_k_->active())
      k = (*hook_rot_k_)(k.permute({0, 2, 1, 3})).permute({0, 2, 1, 3}).contiguous();
  }

  if (st.cache) {
    KILN_CHECK(slot_ >= 0 && slot_ < int64_t(st.cache->layers.size()),
               "attention: this layer has cache slot ", slot_, " but the KV cache has ",
               st.cache->layers.size(), " entries (make the cache with the model's make_cache)");
    nn::KVCache::Entry& e = st.cache->layers[size_t(slot_)];
    const int64_t L = st.cache->length;
    KILN_CHECK(e.k.dim() == 4 && e.k.size(0) == B && e.k.size(1) == Hkv && e.k.size(3) == D,
               "attention: KV cache entry of shape ", e.k.shape(),
               " does not fit [B, Hkv, capacity, D] = [", B, ", ", Hkv, ", capacity, ", D, "]");
    KILN_CHECK(L + T <= e.k.size(2), "attention: the KV cache holds ", e.k.size(2), " positions; ",
               L, " are filled and this forward adds ", T);
    {
      autograd::NoGrad no_grad;
      e.k.narrow(2, L, T).copy_(k);
      e.v.narrow(2, L, T).copy_(v);
    }
    if (autograd::needs_grad(k) || autograd::needs_grad(v)) {  // keep the new keys differentiable
      k = ops::concat({e.k.narrow(2, 0, L), k}, 2);
      v = ops::concat({e.v.narrow(2, 0, L), v}, 2);
    } else {
      k = e.k.narrow(2, 0, L + T);
      v = e.v.narrow(2, 0, L + T);
    }
  }

  Tensor z;  // [B, H, T, D]
  if (hook_attn_scores_->active() || hook_pattern_->active())
    z = unfused(q, k, v, ctx.mask, ctx.bias, st);
  else
    z = ops::scaled_dot_product_attention(q, k, v, options(ctx, st));
  return z.permute({0, 2, 1, 3}).contiguous();
}

// The same function as heads() for training without hooks, recorded as one node from qkv to
// z, so that backward writes the gradients of q, k and v straight into one dqkv. Recorded
// view by view, each of the three slices of qkv would get a zero-filled gradient of qkv's
// full size that autograd then sums. The ops between the heads and z (qk-norm, RoPE, the fused
// attention) are taped on leaves q, k, v and run backward from inside this node's backward,
// as gradient checkpointing does.
Tensor Attention::heads_fused(const Tensor& qkv, nn::ForwardState& st) {
  const int64_t H = c_.n_heads, Hkv = c_.n_kv_heads, D = c_.head_dim;
  const int64_t B = qkv.size(0), T = qkv.size(1);
  // Nothing between the projection and the scores (no qk-norm, no rotation): the packed op
  // reads the heads out of qkv and writes d(qkv) directly, with no copies and no inner tape.
  if (!q_norm && !hook_rot_q_) {
    const Context ctx = context(st, B, T, qkv.dtype());
    return ops::packed_attention(qkv, H, Hkv, options(ctx, st));
  }
  Tensor q, k, v;
  {
    autograd::NoGrad no_grad;
    Tensor d = qkv.detach();
    q = d.narrow(2, 0, H * D).view({B, T, H, D}).permute({0, 2, 1, 3}).contiguous();
    k = d.narrow(2, H * D, Hkv * D).view({B, T, Hkv, D}).permute({0, 2, 1, 3}).contiguous();
    v = d.narrow(2, (H + Hkv) * D, Hkv * D).view({B, T, Hkv, D}).permute({0, 2, 1, 3}).contiguous();
  }
  q.requires_grad_();
  k.requires_grad_();
  v.requires_grad_();
  Tensor qi = q, ki = k;
  if (q_norm) {
    qi = q_norm->forward(qi, st);
    ki = k_norm->forward(ki, st);
  }
  const Context ctx = context(st, B, T, qkv.dtype());
  if (pos_) {
    qi = pos_->rotate(qi, ctx.where);
    ki = pos_->rotate(ki, ctx.where);
  }
  Tensor out = ops::scaled_dot_product_attention(qi, ki, v, options(ctx, st));  // [B, H, T, D]
  Tensor z;
  {
    autograd::NoGrad no_grad;
    z = out.detach().permute({0, 2, 1, 3}).contiguous();  // [B, T, H, D]
  }
  const Shape qkv_shape = qkv.shape();
  autograd::record(
      "attention_heads", {qkv}, z,
      [q, k, v, out, qkv_shape, H, Hkv, D](const Tensor& g, const autograd::NeedsGrad&) {
        const int64_t B = qkv_shape[0], T = qkv_shape[1];
        out.backward(g.permute({0, 2, 1, 3}));  // the kernels read it through its strides
        Tensor dqkv = empty(qkv_shape, g.dtype(), g.device());
        auto put = [&](const Tensor& leaf, int64_t col, int64_t heads) {
          Tensor dst = dqkv.narrow(2, col, heads * D).view({B, T, heads, D});
          Tensor grad = leaf.grad();
          if (grad.defined())
            dst.copy_(grad.permute({0, 2, 1, 3}));
          else
            dst.zero_();
        };
        put(q, 0, H);
        put(k, H * D, Hkv);
        put(v, (H + Hkv) * D, Hkv);
        return std::vector<Tensor>{dqkv};
      });
  return z;
}

std::pair<Tensor, Tensor> Attention::memory_kv(const Tensor& memory, nn::ForwardState& st) {
  const int64_t Hkv = c_.n_kv_heads, D = c_.head_dim;
  const int64_t B = memory.size(0), S = memory.size(1);
  Tensor kv = c_kv->forward(memory);
  Tensor k = kv.narrow(2, 0, Hkv * D).view({B, S, Hkv, D});
  Tensor v = kv.narrow(2, Hkv * D, Hkv * D).view({B, S, Hkv, D});
  if (k_norm) k = k_norm->forward(k, st);
  k = (*hook_k_)(k).permute({0, 2, 1, 3}).contiguous();  // [B, Hkv, S, D]
  v = (*hook_v_)(v).permute({0, 2, 1, 3}).contiguous();
  return {k, v};
}

// Queries from x; keys and values of the whole memory, unmasked but for its padding (a decoder
// position may read every source position). With a KV cache they are computed once.
Tensor Attention::cross_heads(const Tensor& x, nn::ForwardState& st) {
  const int64_t H = c_.n_heads, D = c_.head_dim;
  const int64_t B = x.size(0), T = x.size(1);
  const Tensor& mem = st.memory;
  KILN_CHECK(mem.defined(),
             "cross-attention: state.memory is not set; an encoder-decoder's decoder reads the "
             "encoder's output: set state.memory = encode(source) (and state.memory_padding)");
  KILN_CHECK(mem.dim() == 3 && mem.size(0) == B && mem.size(2) == c_.d_memory,
             "cross-attention: memory must be [B, S, d_memory] = [", B, ", S, ", c_.d_memory,
             "], got ", mem.shape());
  const int64_t S = mem.size(1);
  Tensor k, v;
  if (st.cache) {
    KILN_CHECK(slot_ >= 0 && slot_ < int64_t(st.cache->layers.size()),
               "cross-attention: this layer has cache slot ", slot_, " but the KV cache has ",
               st.cache->layers.size(), " entries (make the cache with the model's make_cache)");
    nn::KVCache::Entry& e = st.cache->layers[size_t(slot_)];
    KILN_CHECK(e.cross, "cross-attention: cache slot ", slot_,
               " belongs to a self-attention layer (make the cache with the model's make_cache)");
    if (!e.k.defined()) {
      std::tie(k, v) = memory_kv(mem, st);
      e.k = k.detach();
      e.v = v.detach();
    } else {
      KILN_CHECK(e.k.size(0) == B && e.k.size(2) == S,
                 "cross-attention: the KV cache holds the keys of a memory [B, S] = [", e.k.size(0),
                 ", ", e.k.size(2), "], but state.memory is ", mem.shape(),
                 " (a cache serves one memory: make a new one for another)");
      k = e.k;
      v = e.v;
    }
  } else {
    std::tie(k, v) = memory_kv(mem, st);
  }
  Tensor q = c_q->forward(x).view({B, T, H, D});
  if (q_norm) q = q_norm->forward(q, st);
  q = (*hook_q_)(q).permute({0, 2, 1, 3}).contiguous();  // [B, H, T, D]

  Tensor mask;
  if (st.memory_padding.defined()) {
    const Tensor& mp = st.memory_padding;
    KILN_CHECK(mp.dtype() == DType::boolean && mp.dim() == 2 && mp.size(0) == B && mp.size(1) == S,
               "cross-attention: memory_padding must be bool [B, S] = [", B, ", ", S, "], got ",
               dtype_name(mp.dtype()), " ", mp.shape());
    mask = mp.reshape({B, 1, 1, S});
  }
  Tensor z;
  if (hook_attn_scores_->active() || hook_pattern_->active()) {
    z = unfused(q, k, v, mask, Tensor(), st);
  } else {
    Context ctx;
    ctx.mask = mask;
    z = ops::scaled_dot_product_attention(q, k, v, options(ctx, st));
  }
  return z.permute({0, 2, 1, 3}).contiguous();
}

// The scores and pattern formed explicitly, for hooks that read or replace them. The same
// function as the fused op: scale q.k + bias, -inf where a key is hidden, softmax (a row that
// sees no key gives zeros), dropout, the weighted sum of v.
Tensor Attention::unfused(const Tensor& q, const Tensor& k, const Tensor& v, const Tensor& mask,
                          const Tensor& bias, nn::ForwardState& st) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3), S = k.size(2);
  const int64_t Hkv = k.size(1), G = H / Hkv;
  Tensor kh = k, vh = v;
  if (G > 1) {
    kh = k.unsqueeze(2).expand({B, Hkv, G, S, D}).reshape({B, H, S, D});
    vh = v.unsqueeze(2).expand({B, Hkv, G, S, D}).reshape({B, H, S, D});
  }
  const double scale = c_.scale > 0 ? c_.scale : 1.0 / std::sqrt(double(D));
  Tensor scores = ops::mul(ops::matmul(q, kh, false, true), scale);
  if (bias.defined()) scores = ops::add(scores, bias);

  Tensor visible = mask;
  if (c_.causal) {
    std::vector<bool> vis(size_t(T * S));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < S; ++j)
        vis[size_t(i * S + j)] = j <= i + S - T && (c_.window == 0 || j > i + S - T - c_.window);
    Tensor by_position = from_vector(vis, {T, S});
    visible = visible.defined() ? ops::logical_and(visible, by_position) : by_position;
  }
  const double inf = std::numeric_limits<double>::infinity();
  if (visible.defined()) scores = ops::masked_fill(scores, ops::logical_not(visible), -inf);
  scores = (*hook_attn_scores_)(scores);

  // A row without a visible key would be NaN: softmax it over zeros and zero it afterwards.
  Tensor empty_row;
  if (visible.defined()) {
    empty_row = ops::eq(ops::max(scores, {-1}, /*keepdim=*/true), -inf);
    scores = ops::masked_fill(scores, empty_row, 0.0);
  }
  Tensor pattern = ops::softmax(scores, -1);
  if (empty_row.defined()) pattern = ops::masked_fill(pattern, empty_row, 0.0);
  pattern = (*hook_pattern_)(pattern);
  if (is_training() && c_.dropout > 0)
    pattern = ops::dropout(pattern, c_.dropout, true, st.generator);
  return ops::matmul(pattern, vh);
}

void share_positions(const nn::Module& root, const std::shared_ptr<Positions>& pos) {
  for (const auto& [name, m] : root.named_modules())
    if (auto* a = dynamic_cast<Attention*>(const_cast<nn::Module*>(m)))
      if (!a->config().cross && !a->positions()) a->set_positions(pos);
}

}  // namespace kiln::layers
