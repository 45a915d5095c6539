// The `train` section of a spec: its schema (registered with the registry, so `kiln spec check`
// validates it with file:line errors) and the options the Trainer reads from it.
//
//   train = { objective = causal_lm {}, optimizer = adamw { lr = 1e-3 }, schedule = cosine {},
//             batch = 12, seq_len = 64, steps = 2000, grad_accum = 1, grad_clip = 1.0,
//             precision = "bf16", eval_every = 250, eval_batches = 20, log_every = 10,
//             checkpoint_every = 500, keep_checkpoints = 3, init = "runs/pretrained" }
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/registry/config.h"
#include "core/registry/schema.h"
#include "core/tensor/dtype.h"

namespace kiln {
class Registry;
}

namespace kiln::train {

/// The schema of the `train` section.
Schema train_section_schema();

/// Registers train_section_schema() as the schema of the spec's "train" section (the registry
/// calls this when it is created, so every program that loads specs validates the section).
void register_train_section(Registry& registry);

struct TrainOptions {
  Config objective, optimizer, schedule;  ///< component nodes (schedule: `total` filled in)
  int64_t steps = 0;
  int64_t batch = 8;
  int64_t seq_len = 0;  ///< 0 until resolved against the model's context
  int64_t grad_accum = 1;
  double grad_clip = 1.0;  ///< 0: no clipping (the norm is still measured and logged)
  DType precision = DType::f32;
  int64_t eval_every = 0;
  int64_t eval_batches = 20;
  int64_t log_every = 10;
  int64_t checkpoint_every = 0;
  int64_t keep_checkpoints = 3;
  std::vector<std::string> no_decay;
  bool decay_vectors = false;
  std::string init;  ///< weights to start from ("" : the model's own initialisation)
};

/// Reads a validated `train` section. `context` is the model's context length: seq_len defaults
/// to it and may not exceed it (an error at train.seq_len). A schedule that has a `total`
/// parameter and leaves it unset gets `steps`, in `train` itself too (so the resolved spec
/// records it).
TrainOptions read_train_options(Config& train, int64_t context);

}  // namespace kiln::train
