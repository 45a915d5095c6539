// Evaluators: the "evaluator" component kind, which turn a trained model into numbers.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/nn/model.h"
#include "core/registry/config.h"

namespace kiln::eval {

class RequestCache;

struct EvalContext {
  nn::Model* model = nullptr;
  std::shared_ptr<data::Tokenizer> tokenizer;
  data::Dataset* dataset = nullptr;  ///< the run's data, when the evaluator scores its val split
  std::string run_dir;
  int64_t batch_size = 8;
  bool progress = true;
  /// `kiln eval --limit N`: evaluators made of tasks (subjects) score at most N examples of
  /// each (the smaller of this and their own limit).
  std::optional<int64_t> limit;
  /// Where evaluators that score examples put one record each (samples.jsonl): a table with
  /// at least "prompt", "gold" and "correct"; null when nobody keeps them.
  std::vector<Config>* samples = nullptr;
  /// Answers of the requests kept on disk (`kiln eval` keeps RUN/eval_cache.log), so that an
  /// interrupted evaluation resumes; evaluators hand it to the engine. Null: none.
  RequestCache* cache = nullptr;
};

class Evaluator {
 public:
  virtual ~Evaluator();
  /// A short name for tables ("perplexity", "mmlu").
  virtual std::string name() const = 0;
  /// Whether evaluate() reads ctx.dataset (the run's val split): `kiln eval` prepares the run's
  /// data (reads and tokenises it) only when an evaluator of the suite needs it, and leaves
  /// ctx.dataset null otherwise.
  virtual bool needs_dataset() const { return false; }
  /// Scores the model; the result is written as JSON (results.json) and summarised in a table.
  virtual Config evaluate(EvalContext& ctx) = 0;
};

}  // namespace kiln::eval
