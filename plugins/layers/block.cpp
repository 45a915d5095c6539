#include "plugins/layers/block.h"

#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"

namespace kiln::layers {

Block::Block(std::shared_ptr<nn::Layer> ln1_, std::shared_ptr<nn::Layer> attn_,
             std::shared_ptr<nn::Layer> ln2_, std::shared_ptr<nn::Layer> mlp_, bool pre_norm,
             double dropout, std::shared_ptr<nn::Layer> ln_cross_,
             std::shared_ptr<nn::Layer> cross_attn_)
    : pre_norm_(pre_norm), dropout_(dropout) {
  KILN_CHECK(dropout >= 0 && dropout < 1, "block: dropout must be in [0, 1), got ", dropout);
  KILN_CHECK((ln_cross_ == nullptr) == (cross_attn_ == nullptr),
             "block: a cross-attention sublayer needs both its norm and its attention");
  hook_resid_pre_ = &register_hook("hook_resid_pre");
  ln1 = register_module("ln1", std::move(ln1_));
  attn = register_module("attn", std::move(attn_));
  hook_attn_out_ = &register_hook("hook_attn_out");
  KILN_CHECK(bool(ln2_) == bool(mlp_), "block: give both ln2 and mlp, or neither (attention-only)");
  KILN_CHECK(mlp_ || !cross_attn_, "block: an attention-only block cannot have cross-attention");
  if (mlp_) hook_resid_mid_ = &register_hook("hook_resid_mid");
  if (cross_attn_) {
    ln_cross = register_module("ln_cross", std::move(ln_cross_));
    cross_attn = register_module("cross_attn", std::move(cross_attn_));
    hook_cross_attn_out_ = &register_hook("hook_cross_attn_out");
    hook_resid_cross_ = &register_hook("hook_resid_cross");
  }
  if (mlp_) {
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

Tensor Block::sublayer(const Tensor& x, nn::Layer& norm, nn::Layer& f, nn::HookPoint& hook_out,
                       nn::HookPoint& hook_resid, nn::ForwardState& state) {
  if (pre_norm_) {
    Tensor out = hook_out(drop(f.forward(norm.forward(x, state), state), state));
    return hook_resid(ops::add(x, out));
  }
  Tensor out = hook_out(drop(f.forward(x, state), state));
  return hook_resid(norm.forward(ops::add(x, out), state));
}

Tensor Block::forward(const Tensor& x_in, nn::ForwardState& state) {
  Tensor x = (*hook_resid_pre_)(x_in);
  if (!mlp)  // attention-only: the attention's residual is the block's output
    return sublayer(x, *ln1, *attn, *hook_attn_out_, *hook_resid_post_, state);
  x = sublayer(x, *ln1, *attn, *hook_attn_out_, *hook_resid_mid_, state);
  if (cross_attn)
    x = sublayer(x, *ln_cross, *cross_attn, *hook_cross_attn_out_, *hook_resid_cross_, state);
  return sublayer(x, *ln2, *mlp, *hook_mlp_out_, *hook_resid_post_, state);
}

}  // namespace kiln::layers
