// AdamW (Loshchilov & Hutter, "Decoupled Weight Decay Regularization", 2019), as
// torch.optim.AdamW without amsgrad.
#pragma once

#include <vector>

#include "core/train/optimizer.h"

namespace kiln::optimizers {

struct AdamWOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 1e-2;
};

/// Per-group options: "beta1", "beta2", "eps". State per parameter: "exp_avg", "exp_avg_sq".
class AdamW : public train::Optimizer {
 public:
  explicit AdamW(std::vector<Tensor> params, const AdamWOptions& options = {});
  explicit AdamW(std::vector<train::ParamGroup> groups, const AdamWOptions& defaults = {});

 protected:
  void init_state(const train::ParamGroup& g, const Tensor& p, train::ParamState& s) override;
  std::vector<std::string> state_names(const train::ParamGroup& g, const Tensor& p) const override;
  void update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
              train::ParamState& s) override;
};

}  // namespace kiln::optimizers
