// Stochastic gradient descent with momentum, dampening, Nesterov and (L2) weight decay, as
// torch.optim.SGD.
#pragma once

#include <vector>

#include "core/train/optimizer.h"

namespace kiln::optimizers {

struct SGDOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  bool nesterov = false;
  double weight_decay = 0.0;
};

/// Per-group options: "momentum", "dampening", "nesterov" (0 or 1). State per parameter:
/// "momentum_buffer" when the group's momentum is not 0.
class SGD : public train::Optimizer {
 public:
  explicit SGD(std::vector<Tensor> params, const SGDOptions& options = {});
  explicit SGD(std::vector<train::ParamGroup> groups, const SGDOptions& defaults = {});

 protected:
  void init_state(const train::ParamGroup& g, const Tensor& p, train::ParamState& s) override;
  std::vector<std::string> state_names(const train::ParamGroup& g, const Tensor& p) const override;
  void update(const train::ParamGroup& g, const Tensor& p, const Tensor& grad,
              train::ParamState& s) override;
};

}  // namespace kiln::optimizers
