// The feed-forward layer: up-projection, activation, down-projection. Plain (GPT-2):
//   post = act(c_fc(x));  gated (Shazeer 2020, "GLU variants"): post = act(gate(x)) * up(x);
// out = c_proj(post) (down_proj when gated).
//
// Parameters (Hugging Face names: GPT-2's for the plain MLP, LLaMA's for the gated one; all in
// torch.nn.Linear's [out, in] layout):
//   plain: c_fc.weight [d_mlp, d_model], c_fc.bias, c_proj.weight [d_model, d_mlp], c_proj.bias
//   gated: gate_proj.weight [d_mlp, d_model], up_proj.weight, down_proj.weight [d_model, d_mlp]
//          (and their biases when bias is on)
// Hook points: hook_pre (the activation's input), hook_pre_linear (gated: the up projection),
// hook_post (the input of the down-projection).
#pragma once

#include <memory>
#include <string>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"

namespace kiln::layers {

enum class Activation { gelu, gelu_tanh, relu, silu, swiglu, geglu, layer };

/// "gelu" (exact), "gelu_tanh" (GPT-2's approximation), "relu", "silu", "swiglu" (gated SiLU),
/// "geglu" (gated exact GELU); throws for other names.
Activation parse_activation(const std::string& name);
/// The names parse_activation accepts.
const std::vector<std::string>& activation_names();
/// The elementwise function of a named activation (gated ones: their gate's, SiLU or GELU);
/// throws for Activation::layer.
Tensor apply_activation(Activation a, const Tensor& x);

struct MLPConfig {
  int64_t d_model = 0;
  int64_t d_mlp =
      0;  ///< 0: 4 d_model, or for gated activations 8/3 d_model rounded up to multiple_of
  int64_t multiple_of = 1;
  Activation activation = Activation::gelu;
  /// With Activation::layer: whether the layer's output gates the up projection.
  bool gated = false;
  bool bias = true;
};

class MLP : public nn::Layer, public Initializable {
 public:
  /// act_layer: the activation when config.activation is Activation::layer (a layer component,
  /// for instance a third party's), else null.
  MLP(const MLPConfig& config, std::shared_ptr<nn::Layer> act_layer);
  /// x [..., d_model] -> [..., d_model].
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;
  const MLPConfig& config() const { return c_; }
  bool gated() const { return gated_; }

  std::shared_ptr<Linear> c_fc, c_proj;                   // plain
  std::shared_ptr<Linear> gate_proj, up_proj, down_proj;  // gated

 private:
  Tensor activate(const Tensor& x, nn::ForwardState& state);

  MLPConfig c_;
  bool gated_;
  std::shared_ptr<nn::Layer> act_;
  nn::HookPoint *hook_pre_, *hook_pre_linear_ = nullptr, *hook_post_;
};

}  // namespace kiln::layers
