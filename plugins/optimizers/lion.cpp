#include "plugins/optimizers/lion.h"

#include <cmath>

#include "core/tensor/factory.h"
#include "plugins/optimizers/update_util.h"

namespace kiln::optimizers {

namespace {

// One Lion update of n elements (Chen et al. 2023, Algorithm 2):
//   c <- b1*m + (1-b1)*g                 interpolation used for the update direction
//   p <- p - lr*(sign(c) + wd*p)         every coordinate moves by exactly lr (plus decay)
//   m <- b2*m + (1-b2)*g                 the momentum itself tracks g with the slower b2
template <class View, class T, class A>
void lion_kernel(const View& p, const T* g, A* m, int64_t n, A lr, A wd, A b1, A b2) {
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      A gi = cpu::cast_value<A>(g[i]);
      A c = b1 * m[i] + (A(1) - b1) * gi;
      A sign = A((c > A(0)) - (c < A(0)));
      A pi = p.load(i);
      p.store(i, pi - lr * (sign + wd * pi));
      m[i] = b2 * m[i] + (A(1) - b2) * gi;
    }
  });
}

std::vector<train::ParamGroup> one_group(std::vector<Tensor> params) {
  return {train::ParamGroup{std::move(params), {}, {}, {}}};
}

}  // namespace

Lion::Lion(std::vector<Tensor> params, const LionOptions& options)
    : Lion(one_group(std::move(params)), options) {}

Lion::Lion(std::vector<train::ParamGroup> groups, const LionOptions& d)
    : Optimizer("Lion", std::move(groups), d.lr, d.weight_decay,
                {{"beta1", d.beta1}, {"beta2", d.beta2}}) {
  for (size_t g = 0; g < num_groups(); ++g) {
    check_option(g, "beta1", 0, 1);
    check_option(g, "beta2", 0, 1);
  }
}

std::vector<std::string> Lion::state_names(const train::ParamGroup&, const Tensor&) const {
  return {"exp_avg"};
}

void Lion::init_state(const train::ParamGroup&, const Tensor& p, train::ParamState& s) {
  s.tensors["exp_avg"] = zeros(p.shape(), state_dtype(p));
}

void Lion::update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
                  train::ParamState& s) {
  const double lr = option(g, "lr"), wd = option(g, "weight_decay");
  const double b1 = option(g, "beta1"), b2 = option(g, "beta2");
  dispatch_param("Lion", p, grad, s, [&](const auto& view, const auto* gp) {
    using A = std::remove_pointer_t<decltype(view.master)>;
    lion_kernel(view, gp, s.tensors.at("exp_avg").data<A>(), p.numel(), A(lr), A(wd), A(b1), A(b2));
  });
}

}  // namespace kiln::optimizers
