// A run directory: what `kiln train` writes and `kiln generate`, `kiln eval` and a resumed
// `kiln train` read.
//
//   runs/a/spec.json        the resolved spec (defaults filled; enough to repeat the run)
//   runs/a/metrics.jsonl    every logged value, one JSON object a line
//   runs/a/checkpoints/     step_<N>/{model,optimizer}.safetensors, state.json
//   runs/a/...              the tokenizer's files (Tokenizer::save)
#pragma once

#include <string>

#include "core/registry/config.h"

namespace kiln::train {

class RunDir {
 public:
  explicit RunDir(std::string root) : root_(std::move(root)) {}

  const std::string& root() const { return root_; }
  std::string spec_path() const { return root_ + "/spec.json"; }
  std::string metrics_path() const { return root_ + "/metrics.jsonl"; }
  std::string checkpoints() const { return root_ + "/checkpoints"; }
  /// Where the tokenizer saves itself (the run directory itself).
  const std::string& tokenizer_dir() const { return root_; }

  bool has_spec() const;
  /// Creates the directory and checkpoints/ (with parents).
  void create() const;
  /// Writes spec.json (to a temporary name, then renamed).
  void write_spec(const Config& spec) const;
  /// Reads spec.json; throws naming the file when it is missing or not JSON.
  Config read_spec() const;

 private:
  std::string root_;
};

}  // namespace kiln::train
