// Generator states in a run's state.json (the trainer's, and an objective's own): decimal
// strings, since a uint64 does not fit JSON's integers.
#pragma once

#include "core/registry/config.h"
#include "core/tensor/random.h"

namespace kiln::train {

Config rng_config(const RngState& s);
/// Throws at `c` when it is not {seed = "<digits>", offset = "<digits>"}.
RngState rng_from(const Config& c);

}  // namespace kiln::train
