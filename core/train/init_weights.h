// Starting a run from trained weights (`train.init`): post-training (sft, dpo, a reward model,
// ppo) begins from a pretrained policy, and the objectives that keep a frozen reference take
// it from the weights the model holds when training starts, which are these.
#pragma once

#include <string>
#include <vector>

#include "core/nn/module.h"

namespace kiln::train {

/// The weights `train.init` names: a run directory (its latest checkpoint) or one checkpoint's
/// directory (the one holding model.safetensors). Throws naming what is missing. ("hf:DIR" is
/// read above the core: see TrainerOptions::read_init.)
nn::StateDict read_init_weights(const std::string& ref);

struct InitReport {
  int64_t loaded = 0;              ///< tensors taken from the weights
  std::string prefix;              ///< "" or the wrapped model's prefix they went under
  std::vector<std::string> fresh;  ///< the model's tensors left as initialised (a new head)
};

/// Loads `weights` into `model` by name. When the names do not match as they are, a model
/// that wraps another (scalar_head, value_head: the wrapped model's parameters under
/// "model.") takes them into the wrapped model, and its own (the head) keep their
/// initialisation. Every tensor of `weights` must find a parameter of the same shape and
/// dtype; otherwise this throws, listing the differences, and loads nothing.
InitReport load_init_weights(nn::Module& model, const nn::StateDict& weights);

}  // namespace kiln::train
