// Checkpoints: a directory checkpoints/step_<N> holding model.safetensors, optimizer.safetensors
// and state.json (step, random generators, data position, ...). A checkpoint is written into a
// temporary directory beside it, each file flushed to disk, and the directory renamed into
// place, so a crash at any moment leaves either the complete checkpoint or none under its name
// (the temporary directory of an interrupted write is never listed, and is removed by the next
// write).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/nn/module.h"
#include "core/registry/config.h"
#include "core/train/optimizer.h"

namespace kiln::train {

struct CheckpointRef {
  int64_t step = 0;
  std::string path;  ///< the checkpoint's directory
};

/// The complete checkpoints in `dir` (a run's checkpoints/ folder), oldest first. A missing
/// folder has none.
std::vector<CheckpointRef> list_checkpoints(const std::string& dir);
std::optional<CheckpointRef> latest_checkpoint(const std::string& dir);

/// The name of step n's checkpoint: "step_00000050".
std::string checkpoint_name(int64_t step);

/// What a checkpoint holds.
struct CheckpointData {
  nn::StateDict model;
  TensorDict optimizer;  ///< empty when read without it
  Config state;          ///< state.json: at least "step"
};

/// Writes a checkpoint of `step` into `dir` (created if needed) and returns its path. An
/// existing checkpoint of the same step is replaced (the new one is complete before the old one
/// goes). Fault injection for tests: KILN_TEST_ABORT_IN_CHECKPOINT=model|optimizer|state makes
/// the process abort() right after writing that file into the temporary directory.
std::string write_checkpoint(const std::string& dir, int64_t step, const nn::StateDict& model,
                             const TensorDict& optimizer, const Config& state);

/// Removes all but the newest `keep` checkpoints of `dir`.
void prune_checkpoints(const std::string& dir, int64_t keep);

/// Removes the temporary directories that interrupted writes left in `dir`.
void remove_partial_checkpoints(const std::string& dir);

/// Reads a checkpoint directory; throws kiln::Error naming the file on anything missing or
/// corrupt. The tensors are memory-mapped (copy them into the model and optimizer).
CheckpointData read_checkpoint(const std::string& path, bool with_optimizer = true);

}  // namespace kiln::train
