#include "plugins/layers/norm.h"

#include "core/nn/init.h"
#include "core/ops/norm.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

LayerNorm::LayerNorm(int64_t d_model, bool with_bias, double eps)
    : eps_(eps), hook_normalized_(register_hook("hook_normalized")) {
  KILN_CHECK(d_model >= 1, "layer_norm: d_model must be >= 1, got ", d_model);
  weight = register_parameter("weight", ones({d_model}));
  if (with_bias) bias = register_parameter("bias", zeros({d_model}));
}

Tensor LayerNorm::forward(const Tensor& x, nn::ForwardState&) {
  return hook_normalized_(ops::layer_norm(x, weight, bias, eps_));
}

void LayerNorm::init_weights(const InitOptions&) {
  nn::init::ones_(weight);
  if (bias.defined()) nn::init::zeros_(bias);
}

RMSNorm::RMSNorm(int64_t d_model, double eps)
    : eps_(eps), hook_normalized_(register_hook("hook_normalized")) {
  KILN_CHECK(d_model >= 1, "rms_norm: d_model must be >= 1, got ", d_model);
  weight = register_parameter("weight", ones({d_model}));
}

Tensor RMSNorm::forward(const Tensor& x, nn::ForwardState&) {
  return hook_normalized_(ops::rms_norm(x, weight, eps_));
}

void RMSNorm::init_weights(const InitOptions&) {
  nn::init::ones_(weight);
}

}  // namespace kiln::layers
