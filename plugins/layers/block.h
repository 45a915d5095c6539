// A residual block: attention then MLP, each with a norm, either pre-norm (GPT-2, LLaMA):
//   x = x + drop(attn(ln1(x)));  x = x + drop(mlp(ln2(x)))
// or post-norm (the original Transformer):
//   x = ln1(x + drop(attn(x)));  x = ln2(x + drop(mlp(x)))
// A block of an encoder-decoder's decoder has a cross-attention sublayer between the two (T5,
// BART, the original Transformer), with its own norm ln_cross, in the same arrangement:
//   pre-norm: x = x + drop(cross_attn(ln_cross(x)));  post-norm: x = ln_cross(x + drop(...)).
// Children: ln1, attn, [ln_cross, cross_attn], ln2, mlp (any layer components). Hook points
// (TransformerLens): hook_resid_pre, hook_attn_out, hook_resid_mid, [hook_cross_attn_out,
// hook_resid_cross,] hook_mlp_out, hook_resid_post.
// Attention-only blocks (ln2 and mlp null, as TransformerLens's attn_only models) have neither
// ln2 nor mlp nor hook_resid_mid and hook_mlp_out.
#pragma once

#include <memory>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"

namespace kiln::layers {

class Block : public nn::Layer {
 public:
  Block(std::shared_ptr<nn::Layer> ln1, std::shared_ptr<nn::Layer> attn,
        std::shared_ptr<nn::Layer> ln2, std::shared_ptr<nn::Layer> mlp, bool pre_norm,
        double dropout, std::shared_ptr<nn::Layer> ln_cross = nullptr,
        std::shared_ptr<nn::Layer> cross_attn = nullptr);
  /// x [B, T, d_model] -> [B, T, d_model].
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  bool pre_norm() const { return pre_norm_; }

  std::shared_ptr<nn::Layer> ln1, attn, ln2, mlp;  // ln2, mlp: null in attention-only blocks
  std::shared_ptr<nn::Layer> ln_cross, cross_attn;  // encoder-decoder decoders only

 private:
  Tensor drop(const Tensor& x, nn::ForwardState& state) const;
  /// One sublayer f with its norm, pre- or post-norm, its output through hook_out, the new
  /// residual through hook_resid.
  Tensor sublayer(const Tensor& x, nn::Layer& norm, nn::Layer& f, nn::HookPoint& hook_out,
                  nn::HookPoint& hook_resid, nn::ForwardState& state);

  bool pre_norm_;
  double dropout_;
  nn::HookPoint *hook_resid_pre_, *hook_attn_out_, *hook_resid_post_;
  nn::HookPoint *hook_resid_mid_ = nullptr, *hook_mlp_out_ = nullptr;  // with an MLP only
  nn::HookPoint *hook_cross_attn_out_ = nullptr, *hook_resid_cross_ = nullptr;
};

}  // namespace kiln::layers
