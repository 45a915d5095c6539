#include "plugins/optimizers/adamw.h"

#include <cmath>

#include "core/tensor/factory.h"
#include "plugins/optimizers/update_util.h"

namespace kiln::optimizers {

namespace {

// One AdamW update of n elements, at step t >= 1 (bc1 = 1 - b1^t, bc2 = 1 - b2^t):
//   p <- p - lr*wd*p                          decoupled weight decay, applied first
//   m <- b1*m + (1-b1)*g                      first moment
//   v <- b2*v + (1-b2)*g^2                    second moment
//   p <- p - lr * (m/bc1) / (sqrt(v/bc2) + eps)
// The last line is evaluated as PyTorch does: p -= (lr/bc1) * m / (sqrt(v)/sqrt(bc2) + eps).
// One pass over memory: p (or its master), g, m and v are each read once and written once.
template <class View, class T, class A>
void adamw_kernel(const View& p, const T* g, A* m, A* v, int64_t n, A lr, A wd, A b1, A b2, A eps,
                  A step_size, A bc2_sqrt) {
  const A decay = A(1) - lr * wd;
  parallel_ranges(n, [&](int64_t begin, int64_t end) {
#pragma omp simd
    for (int64_t i = begin; i < end; ++i) {
      A gi = cpu::cast_value<A>(g[i]);
      A mi = b1 * m[i] + (A(1) - b1) * gi;
      A vi = b2 * v[i] + (A(1) - b2) * gi * gi;
      m[i] = mi;
      v[i] = vi;
      A pi = p.load(i) * decay;
      p.store(i, pi - step_size * mi / (std::sqrt(vi) / bc2_sqrt + eps));
    }
  });
}

std::vector<train::ParamGroup> one_group(std::vector<Tensor> params) {
  return {train::ParamGroup{std::move(params), {}, {}, {}}};
}

}  // namespace

AdamW::AdamW(std::vector<Tensor> params, const AdamWOptions& options)
    : AdamW(one_group(std::move(params)), options) {}

AdamW::AdamW(std::vector<train::ParamGroup> groups, const AdamWOptions& d)
    : Optimizer("AdamW", std::move(groups), d.lr, d.weight_decay,
                {{"beta1", d.beta1}, {"beta2", d.beta2}, {"eps", d.eps}}) {
  for (size_t g = 0; g < num_groups(); ++g) {
    check_option(g, "beta1", 0, 1, /*hi_open=*/true);
    check_option(g, "beta2", 0, 1, /*hi_open=*/true);
    check_option(g, "eps", 0, INFINITY);
  }
}

std::vector<std::string> AdamW::state_names(const train::ParamGroup&, const Tensor&) const {
  return {"exp_avg", "exp_avg_sq"};
}

void AdamW::init_state(const train::ParamGroup&, const Tensor& p, train::ParamState& s) {
  s.tensors["exp_avg"] = zeros(p.shape(), state_dtype(p));
  s.tensors["exp_avg_sq"] = zeros(p.shape(), state_dtype(p));
}

void AdamW::update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
                   train::ParamState& s) {
  const double lr = option(g, "lr"), wd = option(g, "weight_decay");
  const double b1 = option(g, "beta1"), b2 = option(g, "beta2"), eps = option(g, "eps");
  const double bc1 = 1.0 - std::pow(b1, double(s.step));
  const double bc2 = 1.0 - std::pow(b2, double(s.step));
  dispatch_param("AdamW", p, grad, s, [&](const auto& view, const auto* gp) {
    using A = std::remove_pointer_t<decltype(view.master)>;
    adamw_kernel(view, gp, s.tensors.at("exp_avg").data<A>(), s.tensors.at("exp_avg_sq").data<A>(),
                 p.numel(), A(lr), A(wd), A(b1), A(b2), A(eps), A(lr / bc1), A(std::sqrt(bc2)));
  });
}

}  // namespace kiln::optimizers
