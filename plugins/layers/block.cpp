#include "plugins/layers/block.h"

#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"

namespace kiln::layers {

Block::Block(std::shared_ptr<nn::Layer> ln1_, std::shared_ptr<nn::Layer> attn_,
             std::shared_ptr<nn::Layer> ln2_, std::shared_ptr<nn::Layer> mlp_, bool pre_norm,
             double dropout)
    : pre_norm_(pre_norm), dropout_(dropout) {
  KILN_CHECK(dropout >= 0 && dropout < 1, "block: dropout must be in [0, 1), got ", dropout);
  hook_resid_pre_ = &register_hook("hook_resid_pre");
  ln1 = register_module("ln1", std::move(ln1_));
  attn = register_module("attn", std::move(attn_));
  hook_attn_out_ = &register_hook("hook_attn_out");
  KILN_CHECK(bool(ln2_) == bool(mlp_), "block: give both ln2 and mlp, or neither (attention-only)");
  if (mlp_) {
    hook_resid_mid_ = &register_hook("hook_resid_mid");
    ln2 = register_module("ln2", std::move(ln2_));
    mlp = register_module("mlp", std::move(mlp_));
    hook_mlp_out_ = &register_hook("hook_mlp_out");
  }
  hook_resid_post_ = &register_hook("hook_resid_post");
}

Tensor Block::drop(const Tensor& x, nn::ForwardState& state) const {
  if (!is_training() || dropout_ == 0) return x;
  return ops::dropout(x, dropout_, true, state.generator);
}

Tensor Block::forward(const Tensor& x_in, nn::ForwardState& state) {
  Tensor x = (*hook_resid_pre_)(x_in);
  if (!mlp) {  // attention-only
    Tensor a = (*hook_attn_out_)(
        drop(attn->forward(pre_norm_ ? ln1->forward(x, state) : x, state), state));
    x = ops::add(x, a);
    return (*hook_resid_post_)(pre_norm_ ? x : ln1->forward(x, state));
  }
  if (pre_norm_) {
    Tensor a = (*hook_attn_out_)(drop(attn->forward(ln1->forward(x, state), state), state));
    x = (*hook_resid_mid_)(ops::add(x, a));
    Tensor m = (*hook_mlp_out_)(drop(mlp->forward(ln2->forward(x, state), state), state));
    return (*hook_resid_post_)(ops::add(x, m));
  }
  Tensor a = (*hook_attn_out_)(drop(attn->forward(x, state), state));
  x = (*hook_resid_mid_)(ln1->forward(ops::add(x, a), state));
  Tensor m = (*hook_mlp_out_)(drop(mlp->forward(x, state), state));
  return (*hook_resid_post_)(ln2->forward(ops::add(x, m), state));
}

}  // namespace kiln::layers
