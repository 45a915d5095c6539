// Loading a trained run back: its spec, its model with a checkpoint's weights, its tokenizer.
// What `kiln generate`, `kiln eval` and `kiln probe` start from.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/data/dataset.h"
#include "core/data/tokenizer.h"
#include "core/nn/model.h"
#include "core/registry/config.h"

namespace kiln::train {

struct LoadRunOptions {
  /// The checkpoint's step; -1: the latest.
  int64_t step = -1;
  /// Also prepare the dataset (read and tokenise the sources, split train/val) with the run's
  /// seed, for evaluators that score the val split.
  bool prepare_data = false;
  /// Progress lines while the data is tokenised.
  bool progress = true;
  /// Called on spec.json before the model and the dataset are made from it (`kiln eval --set`:
  /// a tokenizer's unknown-character policy for one evaluation).
  std::function<void(Config& spec)> edit_spec;
};

struct LoadedRun {
  std::string dir;
  Config spec;                                 ///< spec.json
  std::shared_ptr<nn::Model> model;            ///< in eval mode, weights from the checkpoint
  std::shared_ptr<data::Dataset> dataset;      ///< made from the spec (prepared if asked)
  std::shared_ptr<data::Tokenizer> tokenizer;  ///< the dataset's, loaded from the run
  int64_t step = 0;                            ///< the checkpoint's step
  std::string checkpoint;                      ///< its directory
};

/// Loads the plugins spec.json lists (and the default ones), builds the model and the dataset
/// from the spec, loads the checkpoint's weights into the model and the tokenizer from the run
/// (after preparing the data, when asked, so the saved tokenizer is the one in use).
/// Throws kiln::Error naming the file on a missing run, spec or checkpoint, or weights that do
/// not fit the model.
LoadedRun load_run(const std::string& dir, const LoadRunOptions& options = {});

}  // namespace kiln::train
