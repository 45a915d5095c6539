// Weight-decay parameter groups, as GPT-2 and LLaMA are trained: matrices decay, while norm
// gains, biases and embedding tables do not (decaying a gain towards 0 or an embedding row of a
// rare token towards the origin only hurts).
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "core/train/optimizer.h"

namespace kiln::train {

struct DecaySplit {
  std::vector<std::pair<std::string, Tensor>> decay, no_decay;
};

/// Splits named parameters: a parameter gets no decay when its name contains one of
/// `no_decay_patterns`, or when it is 1-d (norm gains, biases) unless decay_vectors.
DecaySplit split_weight_decay(const std::vector<std::pair<std::string, Tensor>>& params,
                              const std::vector<std::string>& no_decay_patterns,
                              bool decay_vectors);

/// The optimizer groups of a split: the decayed group first with the optimizer's own
/// weight_decay, then the rest with weight_decay 0. Empty groups are left out.
std::vector<ParamGroup> weight_decay_groups(const DecaySplit& split);

}  // namespace kiln::train
