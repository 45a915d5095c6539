// Lion (Chen et al., "Symbolic Discovery of Optimization Algorithms", 2023): the sign of an
// interpolated momentum, with decoupled weight decay.
#pragma once

#include <vector>

#include "core/train/optimizer.h"

namespace kiln::optimizers {

struct LionOptions {
  double lr = 1e-4;
  double beta1 = 0.9;
  double beta2 = 0.99;
  double weight_decay = 0.0;
};

/// Per-group options: "beta1", "beta2". State per parameter: "exp_avg".
class Lion : public train::Optimizer {
 public:
  explicit Lion(std::vector<Tensor> params, const LionOptions& options = {});
  explicit Lion(std::vector<train::ParamGroup> groups, const LionOptions& defaults = {});

 protected:
  void init_state(const train::ParamGroup& g, const Tensor& p, train::ParamState& s) override;
  std::vector<std::string> state_names(const train::ParamGroup& g, const Tensor& p) const override;
  void update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
              train::ParamState& s) override;
};

}  // namespace kiln::optimizers
