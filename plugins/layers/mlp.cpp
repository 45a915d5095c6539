#include "plugins/layers/mlp.h"

#include <cmath>

#include "core/ops/elementwise.h"

namespace kiln::layers {

const std::vector<std::string>& activation_names() {
  static const std::vector<std::string> names{"gelu", "gelu_tanh", "relu",
                                              "silu", "swiglu",    "geglu"};
  return names;
}

Activation parse_activation(const std::string& name) {
  static const Activation values[] = {Activation::gelu, Activation::gelu_tanh, Activation::relu,
                                      Activation::silu, Activation::swiglu,    Activation::geglu};
  const auto& names = activation_names();
  for (size_t i = 0; i < names.size(); ++i)
    if (names[i] == name) return values[i];
  std::string all;
  for (const auto& n : names) all += (all.empty() ? "\"" : ", \"") + n + "\"";
  std::string s = did_you_mean(name, names);
  KILN_FAIL("unknown activation \"", name, "\"", s.empty() ? "" : " (did you mean \"" + s + "\"?)",
            "; expected one of ", all, ", or a layer component");
}

MLP::MLP(const MLPConfig& config, std::shared_ptr<nn::Layer> act_layer)
    : c_(config), act_(std::move(act_layer)) {
  KILN_CHECK(c_.d_model >= 1, "mlp: d_model must be >= 1, got ", c_.d_model);
  KILN_CHECK(c_.multiple_of >= 1, "mlp: multiple_of must be >= 1, got ", c_.multiple_of);
  KILN_CHECK((c_.activation == Activation::layer) == (act_ != nullptr),
             "mlp: an activation layer is given exactly when the activation is a layer component");
  gated_ = c_.activation == Activation::swiglu || c_.activation == Activation::geglu ||
           (c_.activation == Activation::layer && c_.gated);
  if (c_.d_mlp == 0) {
    // A gated MLP has three matrices: 2/3 of 4 d keeps the parameter count of a plain one
    // (LLaMA), rounded up to a multiple of multiple_of.
    int64_t h = gated_ ? (8 * c_.d_model) / 3 : 4 * c_.d_model;
    c_.d_mlp = (h + c_.multiple_of - 1) / c_.multiple_of * c_.multiple_of;
  }
  KILN_CHECK(c_.d_mlp >= 1, "mlp: d_mlp must be >= 1, got ", c_.d_mlp);
  if (gated_) {
    gate_proj =
        register_module("gate_proj", std::make_shared<Linear>(c_.d_model, c_.d_mlp, c_.bias));
    up_proj = register_module("up_proj", std::make_shared<Linear>(c_.d_model, c_.d_mlp, c_.bias));
    down_proj =
        register_module("down_proj", std::make_shared<Linear>(c_.d_mlp, c_.d_model, c_.bias));
  } else {
    c_fc = register_module("c_fc", std::make_shared<Linear>(c_.d_model, c_.d_mlp, c_.bias));
    c_proj = register_module("c_proj", std::make_shared<Linear>(c_.d_mlp, c_.d_model, c_.bias));
  }
  if (act_) register_module("act", act_);
  hook_pre_ = &register_hook("hook_pre");
  if (gated_) hook_pre_linear_ = &register_hook("hook_pre_linear");
  hook_post_ = &register_hook("hook_post");
  init_weights(current_init());
}

void MLP::init_weights(const InitOptions& o) {
  const double residual_std =
      o.scheme == InitOptions::Scheme::gpt2 ? o.std / std::sqrt(2.0 * double(o.n_layers)) : o.std;
  if (gated_) {
    gate_proj->init_normal(o.std, o.generator);
    up_proj->init_normal(o.std, o.generator);
    down_proj->init_normal(residual_std, o.generator);
  } else {
    c_fc->init_normal(o.std, o.generator);
    c_proj->init_normal(residual_std, o.generator);
  }
}

Tensor apply_activation(Activation a, const Tensor& x) {
  switch (a) {
    case Activation::gelu:
    case Activation::geglu:
      return ops::gelu(x, ops::GeluApprox::none);
    case Activation::gelu_tanh:
      return ops::gelu(x, ops::GeluApprox::tanh);
    case Activation::relu:
      return ops::relu(x);
    case Activation::silu:
    case Activation::swiglu:
      return ops::silu(x);
    case Activation::layer:
      break;
  }
  KILN_FAIL("apply_activation: an activation layer is applied by its owner");
}

Tensor MLP::activate(const Tensor& x, nn::ForwardState& state) {
  if (c_.activation != Activation::layer) return apply_activation(c_.activation, x);
  Tensor y = act_->forward(x, state);
  KILN_CHECK(y.shape() == x.shape(), "mlp: the activation layer turned shape ", x.shape(), " into ",
             y.shape(), "; an activation must keep the shape");
  return y;
}

Tensor MLP::forward(const Tensor& x, nn::ForwardState& state) {
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == c_.d_model, "mlp: expected input [..., ", c_.d_model,
             "], got ", x.shape());
  Tensor post;
  if (gated_) {
    Tensor pre = (*hook_pre_)(gate_proj->forward(x));
    Tensor lin = (*hook_pre_linear_)(up_proj->forward(x));
    post = (*hook_post_)(ops::mul(activate(pre, state), lin));
    return down_proj->forward(post);
  }
  Tensor pre = (*hook_pre_)(c_fc->forward(x));
  post = (*hook_post_)(activate(pre, state));
  return c_proj->forward(post);
}

}  // namespace kiln::layers
