// The Trainer: the training loop of DESIGN.md §3, built from a validated spec.
//
// Each step draws grad_accum micro-batches, runs the objective (under bf16 autocast when
// train.precision says so), backpropagates, clips the gradients by global norm, and makes one
// optimizer update at the schedule's learning rate. Every log_every steps it prints the
// progress line and appends to metrics.jsonl; every eval_every steps (and at the end) it
// measures the val loss; every checkpoint_every steps (and at the end, and on SIGINT/SIGTERM)
// it writes a checkpoint.
//
// Resuming restores the model, the optimizer, the step (the schedule's position), the random
// generators and the data position, so a run stopped and resumed gives the same losses at
// every step as one that was not.
//
// Everything that can fail on bad input (the spec, the data, the tokenizer against the model,
// the checkpoint resumed from) fails in the constructor, before anything is written.
#pragma once

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/data/dataset.h"
#include "core/nn/model.h"
#include "core/registry/config.h"
#include "core/tensor/random.h"
#include "core/train/objective.h"
#include "core/train/optimizer.h"
#include "core/train/schedule.h"
#include "core/train/train_options.h"

namespace kiln::train {

class MetricsLog;
class ProgressLine;

/// What one update did.
struct StepReport {
  int64_t step = 0;      ///< updates made, this one included
  double loss = 0;       ///< the objective's loss, averaged over the micro-batches by tokens
  double lr = 0;         ///< the learning rate of the first group for this update
  double grad_norm = 0;  ///< global L2 norm before clipping
  int64_t tokens = 0;    ///< input tokens of the step (batch * seq_len * grad_accum)
  bool skipped = false;  ///< the gradient was not finite: no update was made
  std::map<std::string, double> metrics;  ///< the objective's, token-weighted likewise
};

struct TrainerOptions {
  /// The run directory (created by run()).
  std::string out;
  /// Fail unless the run directory has a checkpoint to resume from. Without it a run resumes
  /// from its latest checkpoint when it has one, and starts afresh otherwise.
  bool require_resume = false;
  /// Where the progress line and messages go.
  std::FILE* console = stdout;
  /// Redraw the progress line in place; default: when `console` is a terminal.
  std::optional<bool> interactive;
  /// Stop cleanly (with a checkpoint) on SIGINT and SIGTERM while run() runs.
  bool handle_signals = true;
  /// Called after every update (tests record the losses; request_stop() may be called here).
  std::function<void(const StepReport&)> on_step;
  /// Reads the weights train.init names. Default: read_init_weights (run and checkpoint
  /// directories); the CLI adds hf:DIR, which is read above the core.
  std::function<nn::StateDict(const std::string& ref)> read_init;
  /// Measure MFU against the GEMM ceiling (a short timing once per machine, see gemm_ceiling.h).
  bool mfu = true;
};

struct TrainResult {
  int64_t step = 0;        ///< updates made in total
  bool stopped = false;    ///< stopped before train.steps (a signal or request_stop())
  int signal = 0;          ///< the signal that stopped it, if any
  double val_loss = NAN;   ///< the last evaluation's (NaN without one)
  std::string checkpoint;  ///< the last checkpoint written
};

class Trainer {
 public:
  /// Builds the model, data, objective, optimizer and schedule of a validated spec (it is
  /// copied; its train.schedule.total is filled in) and, when the run directory has a
  /// checkpoint, restores it. Writes nothing.
  Trainer(Config spec, TrainerOptions options);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  /// Trains up to train.steps, writing the run directory. Returns when done or stopped.
  TrainResult run();
  /// Asks run() to stop after the current update, saving a checkpoint (as SIGINT does).
  void request_stop() { stop_requested_ = true; }

  /// One update (no logging, evaluation or checkpoint).
  StepReport train_step();
  /// The objective's mean val loss over `batches` val batches (token-weighted). Leaves every
  /// state as it found it, so evaluations repeat the same batches and do not disturb training.
  double evaluate(int64_t batches);
  /// Writes a checkpoint of the current state into the run directory; returns its path.
  std::string save_checkpoint();

  int64_t step() const { return step_; }
  bool resumed() const { return resumed_from_ >= 0; }
  int64_t resumed_from() const { return resumed_from_; }
  nn::Model& model() { return *model_; }
  Optimizer& optimizer() { return *optimizer_; }
  data::Dataset& dataset() { return *dataset_; }
  const TrainOptions& options() const { return opts_; }
  /// The resolved spec, as spec.json holds it.
  const Config& spec() const { return spec_; }

 private:
  void init_from(const std::string& ref);
  void resume_from(const std::string& checkpoint);
  Config state_config() const;
  void print(const std::string& line);

  Config spec_;
  TrainerOptions topts_;
  TrainOptions opts_;
  uint64_t seed_ = 0;
  std::shared_ptr<nn::Model> model_;
  std::shared_ptr<data::Dataset> dataset_;
  std::shared_ptr<data::Tokenizer> tokenizer_;
  std::shared_ptr<Objective> objective_;
  std::shared_ptr<Schedule> schedule_;
  std::unique_ptr<Optimizer> optimizer_;
  std::vector<Tensor> params_;
  int64_t decayed_params_ = 0, num_params_ = 0;
  Generator generator_;  // dropout and other draws of the forward pass
  int64_t step_ = 0;
  int64_t tokens_seen_ = 0;
  double train_seconds_ = 0;  // wall time of the updates, over every session of the run
  int64_t resumed_from_ = -1;
  double last_val_loss_ = NAN;
  std::atomic<bool> stop_requested_{false};
  std::unique_ptr<ProgressLine> progress_;
  std::string init_line_;  // what train.init loaded, printed when the run starts
};

}  // namespace kiln::train
