// Probes: the "probe" component kind, which look inside a trained model through its hook points
// (core/nn/hooks.h) and write what they see: JSON numbers and SVG pictures.
#pragma once

#include <memory>
#include <string>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"
#include "core/registry/config.h"

namespace kiln::eval {

struct ProbeContext {
  nn::Model* model = nullptr;  ///< in eval mode
  std::shared_ptr<data::Tokenizer> tokenizer;
  std::string run_dir;
  /// Where the probe writes its figures (exists; `kiln probe` uses RUN/probes/NAME).
  std::string out_dir;
  bool progress = true;
};

class Probe {
 public:
  virtual ~Probe();
  /// A short name for files and tables ("logit_lens").
  virtual std::string name() const = 0;
  /// Runs the probe, writes its figures into ctx.out_dir and returns its numbers (written as
  /// OUT/NAME.json by `kiln probe`).
  virtual Config run(ProbeContext& ctx) = 0;
};

}  // namespace kiln::eval
