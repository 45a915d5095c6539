#include "plugins/optimizers/sgd.h"

#include <cmath>

#include "core/tensor/factory.h"
#include "plugins/optimizers/update_util.h"

namespace kiln::optimizers {

namespace {

// One SGD update of n elements (torch.optim.SGD):
//   d <- g + wd*p                               L2 weight decay, folded into the gradient
//   b <- d                   on the first step  momentum buffer (only when momentum != 0)
//   b <- mu*b + (1-damp)*d   afterwards
//   d <- d + mu*b (Nesterov) or d <- b
//   p <- p - lr*d
template <class View, class T, class A>
void sgd_kernel(const View& p, const T* g, A* buf, int64_t n, A lr, A wd, A mu, A damp,
                bool nesterov, bool first) {
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      A pi = p.load(i);
      A d = cpu::cast_value<A>(g[i]) + wd * pi;
      if (buf) {
        A b = first ? d : mu * buf[i] + (A(1) - damp) * d;
        buf[i] = b;
        d = nesterov ? d + mu * b : b;
      }
      p.store(i, pi - lr * d);
    }
  });
}

std::vector<train::ParamGroup> one_group(std::vector<Tensor> params) {
  return {train::ParamGroup{std::move(params), {}, {}, {}}};
}

}  // namespace

SGD::SGD(std::vector<Tensor> params, const SGDOptions& options)
    : SGD(one_group(std::move(params)), options) {}

SGD::SGD(std::vector<train::ParamGroup> groups, const SGDOptions& d)
    : Optimizer("SGD", std::move(groups), d.lr, d.weight_decay,
                {{"momentum", d.momentum},
                 {"dampening", d.dampening},
                 {"nesterov", d.nesterov ? 1.0 : 0.0}}) {
  for (size_t g = 0; g < num_groups(); ++g) {
    check_option(g, "momentum", 0, INFINITY);
    check_option(g, "dampening", 0, 1);
    double nesterov = option(group(g), "nesterov");
    KILN_CHECK(nesterov == 0 || nesterov == 1, "SGD: group ", g, " has nesterov = ", nesterov,
               "; expected 0 or 1");
    KILN_CHECK(
        nesterov == 0 || (option(group(g), "momentum") > 0 && option(group(g), "dampening") == 0),
        "SGD: group ", g,
        " uses Nesterov momentum, which needs momentum > 0 and dampening = 0 (got momentum ",
        option(group(g), "momentum"), ", dampening ", option(group(g), "dampening"), ")");
  }
}

std::vector<std::string> SGD::state_names(const train::ParamGroup& g, const Tensor&) const {
  if (option(g, "momentum") == 0) return {};
  return {"momentum_buffer"};
}

void SGD::init_state(const train::ParamGroup& g, const Tensor& p, train::ParamState& s) {
  if (option(g, "momentum") != 0) s.tensors["momentum_buffer"] = zeros(p.shape(), state_dtype(p));
}

void SGD::update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
                 train::ParamState& s) {
  const double lr = option(g, "lr"), wd = option(g, "weight_decay"), mu = option(g, "momentum");
  const double damp = option(g, "dampening");
  const bool nesterov = option(g, "nesterov") != 0;
  dispatch_param("SGD", p, grad, s, [&](const auto& view, const auto* gp) {
    using A = std::remove_pointer_t<decltype(view.master)>;
    A* buf = mu != 0 ? s.tensors.at("momentum_buffer").data<A>() : nullptr;
    sgd_kernel(view, gp, buf, p.numel(), A(lr), A(wd), A(mu), A(damp), nesterov, s.step == 1);
  });
}

}  // namespace kiln::optimizers
