#include "plugins/objectives/value_head.h"

#include "core/autograd/autograd.h"
#include "core/nn/hooks.h"
#include "core/nn/init.h"
#include "core/ops/linalg.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {
namespace {

struct Linear1 : nn::Module {
  void add(const Tensor& w, const Tensor& b, nn::Parameter& wp, nn::Parameter& bp) {
    wp = register_parameter("weight", w);
    bp = register_parameter("bias", b);
  }
};

// Runs `m` on the tokens and returns its logits; `h` receives the activation at `hook`.
Tensor forward_reading(nn::Model& m, const std::string& hook, const Tensor& tokens,
                       nn::ForwardState& state, Tensor& h) {
  nn::ScopedHook guard = nn::add_hook(m, hook, [&h](const Tensor& x, const std::string&) {
    h = x;
    return x;
  });
  Tensor logits = m.forward(tokens, state);
  KILN_CHECK(h.defined(), "value_head: the model's forward did not pass through '", hook, "'");
  return logits;
}

}  // namespace

ValueHead::ValueHead(std::shared_ptr<nn::Model> model, std::string hook, double init_std,
                     std::shared_ptr<nn::Model> value_model)
    : model_(std::move(model)), value_model_(std::move(value_model)), hook_(std::move(hook)) {
  KILN_CHECK(model_ != nullptr, "value_head: no model");
  register_module("model", model_);
  if (value_model_) {
    KILN_CHECK(value_model_->vocab_size() >= model_->vocab_size(),
               "value_head: the value model's vocabulary (", value_model_->vocab_size(),
               ") is smaller than the policy's (", model_->vocab_size(), ")");
    register_module("value_model", value_model_);
  }
  {
    autograd::NoGrad no_grad;
    nn::ForwardState state;
    forward(zeros({1, 1}, DType::i64), state);
  }
  KILN_CHECK(hidden_.dim() == 3, "value_head: the hook point '", hook_,
             "' holds an activation of shape ", hidden_.shape(), "; expected [B, T, d_model]");
  DType dt = DType::f32;
  for (const auto& [name, p] : model_->named_parameters()) {
    dt = p.dtype();
    break;
  }
  Tensor w = nn::init::normal_(empty({1, hidden_.size(2)}, dt), 0, init_std);
  register_module("value", std::make_shared<Linear1>())->add(w, zeros({1}, dt), weight_, bias_);
  hidden_ = Tensor();
}

Tensor ValueHead::forward(const Tensor& tokens, nn::ForwardState& state) {
  Tensor h;
  if (!value_model_) {
    Tensor logits = forward_reading(*model_, hook_, tokens, state, h);
    hidden_ = h;
    return logits;
  }
  Tensor logits = model_->forward(tokens, state);
  if (state.cache == nullptr) {
    nn::ForwardState value_state = state;  // the same positions and padding
    forward_reading(*value_model_, hook_, tokens, value_state, h);
  }
  hidden_ = h;  // none in cached generation
  return logits;
}

Tensor ValueHead::values() const {
  KILN_CHECK(hidden_.defined(), "value_head: values() before any forward");
  const int64_t B = hidden_.size(0), T = hidden_.size(1);
  return ops::linear(hidden_, weight_, bias_).reshape({B, T});
}

}  // namespace kiln::objectives
