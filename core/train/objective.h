// Objectives: the "objective" component kind, a training loss computed from a model and a batch.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/data/dataset.h"
#include "core/nn/model.h"
#include "core/registry/config.h"

namespace kiln::train {

struct LossOutput {
  Tensor loss;                             ///< scalar, differentiable
  std::map<std::string, double> metrics;   ///< logged beside the loss (accuracy, rewards, ...)
  int64_t tokens = 0;                      ///< tokens the loss was taken over
};

/// What an objective may read once, before the first compute().
struct ObjectiveContext {
  /// The data's tokenizer (special tokens: [MASK], [CLS], sentinels ...); null when the data
  /// has none.
  std::shared_ptr<const data::Tokenizer> tokenizer;
  const nn::Model* model = nullptr;
  uint64_t seed = 0;  ///< the run's seed (static masking is a function of it and the example)
};

class Objective {
 public:
  virtual ~Objective();
  /// Called once, after the data is prepared and before the first compute(): objectives that
  /// corrupt text look up the special tokens they need here and check the model's kind,
  /// throwing with a message that names what is missing. The default does nothing.
  virtual void prepare(const ObjectiveContext& context) {}
  virtual LossOutput compute(nn::Model& model, const data::Batch& batch, nn::ForwardState& state) = 0;
  /// Whether the loss is a mean negative log-likelihood per token, so that its exp is a
  /// perplexity the trainer may report. Preference, reward and mixed losses say no.
  virtual bool loss_is_nll() const { return true; }
  /// Whether the next compute() reads its batch. An RL objective working through the
  /// minibatches of a rollout does not: the trainer then draws none, so that no prompt is
  /// skipped, and compute() gets an empty Batch.
  virtual bool wants_batch() const { return true; }
  /// What the objective carries from one step to the next besides the model and the optimizer
  /// (an RL objective's rollout buffer and its sampler), for checkpoints: null (the default)
  /// when nothing. A resumed run hands it back to load_state(), after prepare().
  virtual Config state() const { return Config(); }
  virtual void load_state(const Config& state) {}
};

}  // namespace kiln::train
