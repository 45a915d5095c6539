#include "plugins/objectives/scalar_head.h"

#include "core/autograd/autograd.h"
#include "core/nn/hooks.h"
#include "core/nn/init.h"
#include "core/ops/linalg.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {
namespace {

struct Score : nn::Module {
  nn::Parameter add(const Tensor& t) { return register_parameter("weight", t); }
};

}  // namespace

ScalarHead::ScalarHead(std::shared_ptr<nn::Model> model, std::string hook, double init_std)
    : model_(std::move(model)), hook_(std::move(hook)) {
  KILN_CHECK(model_ != nullptr, "scalar_head: no model");
  register_module("model", model_);
  Tensor h;
  {
    autograd::NoGrad no_grad;
    nn::ForwardState state;
    h = hidden(zeros({1, 1}, DType::i64), state);
  }
  KILN_CHECK(h.dim() == 3, "scalar_head: the hook point '", hook_,
             "' holds an activation of shape ", h.shape(), "; expected [B, T, d_model]");
  DType dt = DType::f32;
  for (const auto& [name, p] : model_->named_parameters()) {
    dt = p.dtype();
    break;
  }
  Tensor w = nn::init::normal_(empty({1, h.size(2)}, dt), 0, init_std);
  weight_ = register_module("score", std::make_shared<Score>())->add(w);
}

Tensor ScalarHead::hidden(const Tensor& tokens, nn::ForwardState& state) {
  Tensor h;
  {
    nn::ScopedHook guard = nn::add_hook(*model_, hook_, [&h](const Tensor& x, const std::string&) {
      h = x;
      return x;
    });
    model_->forward(tokens, state);
  }
  KILN_CHECK(h.defined(), "scalar_head: the model's forward did not pass through '", hook_, "'");
  return h;
}

Tensor ScalarHead::forward(const Tensor& tokens, nn::ForwardState& state) {
  return ops::linear(hidden(tokens, state), weight_);
}

}  // namespace kiln::objectives
