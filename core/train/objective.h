// Objectives: the "objective" component kind, a training loss computed from a model and a batch.
#pragma once

#include <map>
#include <string>

#include "core/data/dataset.h"
#include "core/nn/model.h"

namespace kiln::train {

struct LossOutput {
  Tensor loss;                             ///< scalar, differentiable
  std::map<std::string, double> metrics;   ///< logged beside the loss (accuracy, rewards, ...)
  int64_t tokens = 0;                      ///< tokens the loss was taken over
};

class Objective {
 public:
  virtual ~Objective();
  virtual LossOutput compute(nn::Model& model, const data::Batch& batch, nn::ForwardState& state) = 0;
};

}  // namespace kiln::train
