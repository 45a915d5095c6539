#include "core/train/trainer.h"

#include <chrono>
#include <cmath>
#include <csignal>
#include <optional>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/ops/autocast.h"
#include "core/ops/elementwise.h"
#include "core/registry/registry.h"
#include "core/train/checkpoint.h"
#include "core/train/init_weights.h"
#include "core/train/clip.h"
#include "core/train/gemm_ceiling.h"
#include "core/train/metrics_log.h"
#include "core/train/param_groups.h"
#include "core/train/progress.h"
#include "core/train/rng_state.h"
#include "core/train/run_dir.h"
#include "core/train/stop_signal.h"

namespace kiln::train {

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// A loss weight for token-weighted means: the tokens the loss was taken over, or 1 for
// objectives that do not count them.
double weight_of(const LossOutput& out) {
  return out.tokens > 0 ? double(out.tokens) : 1.0;
}

std::string millions(int64_t n) {
  return format_count(double(n));
}

}  // namespace

Trainer::Trainer(Config spec, TrainerOptions options)
    : spec_(std::move(spec)), topts_(std::move(options)) {
  KILN_CHECK(!topts_.out.empty(),
             "no run directory: give one with --out or `out = ...` in the spec");
  KILN_CHECK(spec_.is_table(), "a spec to train must be a table, got ", spec_.type_name());
  for (const char* key : {"model", "data", "train"})
    if (!spec_.has(key) || spec_.at(key).is_null())
      KILN_FAIL(spec_.loc().str(), spec_.loc().known() ? ": " : "", "the spec has no `", key,
                "` section; training needs model, data and train");
  seed_ = uint64_t(spec_.get<int64_t>("seed", 0));
  Registry& reg = Registry::global();

  // The model first: seq_len is checked against its context, the tokenizer against its vocab.
  manual_seed(seed_);
  model_ = reg.create<nn::Model>(spec_.at("model"));
  opts_ = read_train_options(spec_.at("train"), model_->context_length());
  objective_ = reg.create<Objective>(opts_.objective);
  std::shared_ptr<OptimizerFactory> factory = reg.create<OptimizerFactory>(opts_.optimizer);
  schedule_ = reg.create<Schedule>(opts_.schedule);

  const Config& data = spec_.at("data");
  if (!data.is_component() || data.component_kind() != "dataset")
    data.fail("expected a dataset component, such as text { path = ..., tokenizer = char {} }");
  dataset_ = reg.create<data::Dataset>(data);
  data::PrepareOptions po;
  po.seed = seed_;
  po.run_dir = topts_.out;
  dataset_->prepare(po);
  tokenizer_ = dataset_->tokenizer();
  if (tokenizer_ && tokenizer_->vocab_size() > model_->vocab_size()) {
    const Config& model = spec_.at("model");
    data.fail(str_cat("the tokenizer's vocabulary has ", tokenizer_->vocab_size(),
                      " tokens but the model's holds only ", model_->vocab_size(), " (model at ",
                      model.loc().known() ? model.loc().str() : "model",
                      "): raise the model's vocabulary or use another tokenizer"));
  }
  // Before the objective's prepare(), which takes its frozen reference from these weights.
  if (!opts_.init.empty()) init_from(opts_.init);
  try {
    objective_->prepare({tokenizer_, model_.get(), seed_});
  } catch (const Error& e) {
    opts_.objective.fail(e.what());
  }
  const size_t train_tokens = dataset_->tokens(data::Split::train).size();
  if (train_tokens <= size_t(opts_.seq_len))
    data.fail(str_cat("the training split has ", train_tokens,
                      " tokens, not enough for one sequence of seq_len + 1 = ", opts_.seq_len + 1));

  const auto named = model_->named_parameters();
  const DecaySplit split = split_weight_decay(named, opts_.no_decay, opts_.decay_vectors);
  for (const auto& [n, p] : split.decay) decayed_params_ += p.numel();
  optimizer_ = factory->make(weight_decay_groups(split));
  params_ = model_->parameters();
  num_params_ = model_->num_parameters();
  // Dropout draws come from a generator of their own (seeded apart from the initialisation's),
  // so that they replay exactly after a resume.
  generator_.manual_seed(seed_ ^ 0x9E3779B97F4A7C15ull);

  RunDir run(topts_.out);
  std::optional<CheckpointRef> latest = latest_checkpoint(run.checkpoints());
  if (topts_.require_resume && !latest)
    KILN_FAIL(topts_.out, ": no checkpoint to resume from (", run.checkpoints(),
              " has none); leave out --resume to start the run");
  if (latest) {
    if (run.has_spec()) {
      Config old = run.read_spec();
      if (old.is_table() && old.has("model") &&
          old.at("model").to_json(false) != spec_.at("model").to_json(false))
        KILN_FAIL(topts_.out, ": the run directory holds a run of another model (the model of ",
                  run.spec_path(),
                  " differs from the spec's); resume it with its own spec (kiln train ",
                  run.spec_path(), ") or give another --out");
    }
    resume_from(latest->path);
  }
}

Trainer::~Trainer() = default;

void Trainer::init_from(const std::string& ref) {
  const Config& at = spec_.at("train").at("init");
  try {
    const nn::StateDict weights = topts_.read_init ? topts_.read_init(ref) : read_init_weights(ref);
    const InitReport r = load_init_weights(*model_, weights);
    init_line_ = str_cat("  init: ", r.loaded, " tensors from ", ref,
                         r.prefix.empty() ? "" : str_cat(" into the wrapped model (", r.prefix, ")"));
    if (!r.fresh.empty()) {
      init_line_ += "; initialised afresh:";
      for (const std::string& n : r.fresh) init_line_ += " " + n;
    }
  } catch (const Error& e) {
    at.fail(e.what());
  }
}

void Trainer::resume_from(const std::string& path) {
  CheckpointData d = read_checkpoint(path);
  try {
    model_->load_state_dict(d.model, /*strict=*/true);
  } catch (const Error& e) {
    KILN_FAIL(path, "/model.safetensors does not fit the model: ", e.what());
  }
  try {
    optimizer_->load_state_dict(d.optimizer);
  } catch (const Error& e) {
    KILN_FAIL(path, "/optimizer.safetensors does not fit the optimizer: ", e.what());
  }
  const std::string state_path = path + "/state.json";
  try {
    const Config& s = d.state;
    step_ = s.at("step").as_int();
    tokens_seen_ = s.get<int64_t>("tokens", 0);
    train_seconds_ = s.get<double>("train_seconds", 0.0);
    generator_.set_state(rng_from(s.at("rng").at("trainer")));
    default_generator().set_state(rng_from(s.at("rng").at("default")));
    dataset_->load_state(s.at("data"));
    if (s.has("objective")) objective_->load_state(s.at("objective"));
  } catch (const Error& e) {
    KILN_FAIL(state_path, ": the checkpoint's state does not fit this run: ", e.what());
  }
  KILN_CHECK(step_ >= 0, state_path, ": corrupt checkpoint state (step ", step_, ")");
  resumed_from_ = step_;
}

Config Trainer::state_config() const {
  Config s = Config::table();
  s.set("step", Config(step_));
  s.set("tokens", Config(tokens_seen_));
  s.set("train_seconds", Config(train_seconds_));
  Config rng = Config::table();
  rng.set("trainer", rng_config(generator_.state()));
  rng.set("default", rng_config(default_generator().state()));
  s.set("rng", rng);
  s.set("data", dataset_->state());
  if (Config o = objective_->state(); !o.is_null()) s.set("objective", std::move(o));
  // Schedules are functions of the step: their position is the step.
  Config sched = Config::table();
  sched.set("step", Config(step_));
  sched.set("multiplier", Config(schedule_->multiplier(step_)));
  s.set("schedule", sched);
  s.set("optimizer_steps", Config(optimizer_->steps()));
  s.set("spec", spec_);
  return s;
}

StepReport Trainer::train_step() {
  model_->train();
  optimizer_->set_lr_multiplier(schedule_->multiplier(step_));
  StepReport r;
  r.lr = optimizer_->lr(0);
  // With accumulation, each micro-batch's mean loss is weighted by its tokens (backward of
  // loss * tokens, then the gradients divided by the total), so the update is the one of the
  // large batch even when micro-batches hold different numbers of targets.
  const bool weighted = opts_.grad_accum > 1;
  double loss_sum = 0, weight_sum = 0;
  std::map<std::string, double> metric_sums;
  for (int64_t i = 0; i < opts_.grad_accum; ++i) {
    const data::Batch batch = objective_->wants_batch()
                                  ? dataset_->next(data::Split::train, opts_.batch, opts_.seq_len)
                                  : data::Batch{};
    nn::ForwardState state;
    state.generator = &generator_;
    LossOutput out;
    {
      ops::Autocast autocast(opts_.precision);
      out = objective_->compute(*model_, batch, state);
    }
    const double w = weight_of(out);
    loss_sum += out.loss.item() * w;
    weight_sum += w;
    for (const auto& [k, v] : out.metrics) metric_sums[k] += v * w;
    if (weighted)
      ops::mul(out.loss, w).backward();
    else
      out.loss.backward();
    r.tokens += batch.inputs.defined() ? batch.inputs.numel() : out.tokens;
  }
  if (weighted) {
    autograd::NoGrad no_grad;
    const double scale = 1.0 / weight_sum;
    for (const Tensor& p : params_) {
      Tensor g = p.grad();
      if (!g.defined()) continue;
      if (g.is_contiguous())
        ops::mul_(g, scale);
      else
        p.set_grad(ops::mul(g, scale).contiguous());
    }
  }
  r.loss = loss_sum / weight_sum;
  for (const auto& [k, v] : metric_sums) r.metrics[k] = v / weight_sum;
  r.grad_norm = opts_.grad_clip > 0 ? clip_grad_norm(params_, opts_.grad_clip) : grad_norm(params_);
  if (std::isfinite(r.grad_norm))
    optimizer_->step();
  else
    r.skipped = true;
  optimizer_->zero_grad();
  ++step_;
  tokens_seen_ += r.tokens;
  r.step = step_;
  return r;
}

double Trainer::evaluate(int64_t batches) {
  if (batches <= 0) return NAN;
  autograd::NoGrad no_grad;
  const Config data_state = dataset_->state();
  const RngState rng = generator_.state();
  const bool was_training = model_->is_training();
  model_->eval();
  double sum = 0, weights = 0;
  for (int64_t i = 0; i < batches; ++i) {
    data::Batch batch = dataset_->next(data::Split::val, opts_.batch, opts_.seq_len);
    nn::ForwardState state;
    state.generator = &generator_;
    ops::Autocast autocast(opts_.precision);
    LossOutput out = objective_->compute(*model_, batch, state);
    const double w = weight_of(out);
    sum += out.loss.item() * w;
    weights += w;
  }
  dataset_->load_state(data_state);
  generator_.set_state(rng);
  model_->train(was_training);
  return sum / weights;
}

std::string Trainer::save_checkpoint() {
  RunDir run(topts_.out);
  std::string path = write_checkpoint(run.checkpoints(), step_, model_->state_dict(),
                                      optimizer_->state_dict(), state_config());
  prune_checkpoints(run.checkpoints(), opts_.keep_checkpoints);
  return path;
}

void Trainer::print(const std::string& line) {
  if (progress_) {
    progress_->print(line);
  } else {
    std::fprintf(topts_.console, "%s\n", line.c_str());
    std::fflush(topts_.console);
  }
}

TrainResult Trainer::run() {
  RunDir run(topts_.out);
  run.create();
  remove_partial_checkpoints(run.checkpoints());
  run.write_spec(spec_);
  if (tokenizer_) tokenizer_->save(run.tokenizer_dir());
  MetricsLog metrics(run.metrics_path(), step_);
  progress_ = topts_.interactive
                  ? std::make_unique<ProgressLine>(topts_.console, *topts_.interactive)
                  : std::make_unique<ProgressLine>(topts_.console);
  std::optional<StopSignals> signals;
  if (topts_.handle_signals) signals.emplace();

  const int64_t start_step = step_;
  const int64_t step_tokens = opts_.batch * opts_.seq_len * opts_.grad_accum;
  const bool can_eval = opts_.eval_batches > 0 && !dataset_->tokens(data::Split::val).empty();
  print(str_cat("kiln train: ", run.root(),
                resumed() ? str_cat(" (resuming at step ", step_, ")") : std::string()));
  print(str_cat("  model: ", millions(num_params_), " parameters (", millions(decayed_params_),
                " with weight decay), vocabulary ", model_->vocab_size(), ", context ",
                model_->context_length()));
  const std::string accum =
      opts_.grad_accum > 1 ? str_cat(" x ", opts_.grad_accum, " micro-batches") : "";
  // A data set of whole examples (preference pairs) pads its rows to the longest in the batch.
  const size_t examples = dataset_->examples(data::Split::train);
  print(str_cat(
      "  data: ",
      examples > 0 ? str_cat(examples, " train examples, ",
                             dataset_->examples(data::Split::val), " val examples; ", opts_.batch,
                             " examples", accum, " a step, rows of up to ", opts_.seq_len,
                             " tokens")
                   : str_cat(millions(int64_t(dataset_->tokens(data::Split::train).size())),
                             " train tokens, ",
                             millions(int64_t(dataset_->tokens(data::Split::val).size())),
                             " val tokens; ", opts_.batch, " x ", opts_.seq_len, accum, " = ",
                             step_tokens, " tokens a step")));
  print(str_cat("  train: ", opts_.steps, " steps, ", opts_.optimizer.component_name(), ", ",
                opts_.schedule.component_name(), " schedule, ",
                opts_.precision == DType::bf16 ? "bf16 autocast" : "f32", ", ", num_threads(),
                num_threads() == 1 ? " thread" : " threads"));
  if (!init_line_.empty()) print(init_line_);
  if (opts_.eval_batches > 0 && !can_eval) print("  (no val split: the val loss is not measured)");

  const double ceiling = topts_.mfu ? gemm_ceiling_flops() : 0.0;
  const double flops_per_token = model_->train_flops_per_token(opts_.seq_len);

  auto log_eval = [&] {
    last_val_loss_ = evaluate(opts_.eval_batches);
    char buf[96];
    std::snprintf(buf, sizeof buf, " | val loss %.4f", last_val_loss_);
    std::string line = str_cat("step ", step_, buf);
    if (objective_->loss_is_nll()) {
      std::snprintf(buf, sizeof buf, " | val ppl %.3f", std::exp(last_val_loss_));
      line += buf;
      metrics.write(
          {{"step", step_}, {"val_loss", last_val_loss_}, {"val_ppl", std::exp(last_val_loss_)}});
    } else {
      metrics.write({{"step", step_}, {"val_loss", last_val_loss_}});
    }
    print(line);
  };

  TrainResult res;
  double session_seconds = 0, interval_seconds = 0;
  int64_t interval_tokens = 0, interval_steps = 0;
  while (step_ < opts_.steps) {
    const Clock::time_point t0 = Clock::now();
    StepReport r = train_step();
    const double dt = seconds_since(t0);
    train_seconds_ += dt;
    session_seconds += dt;
    interval_seconds += dt;
    interval_tokens += r.tokens;
    ++interval_steps;
    if (r.skipped)
      print(str_cat("step ", step_, ": the gradient norm is not finite (", r.grad_norm,
                    "); the update was skipped"));
    if (topts_.on_step) topts_.on_step(r);

    const bool log_point =
        step_ % opts_.log_every == 0 || step_ == opts_.steps || step_ == start_step + 1;
    ProgressInfo info;
    info.step = step_;
    info.total = opts_.steps;
    info.loss = r.loss;
    info.lr = r.lr;
    info.grad_norm = r.grad_norm;
    info.tokens_per_s = interval_seconds > 0 ? double(interval_tokens) / interval_seconds : 0;
    info.mfu = ceiling > 0 ? info.tokens_per_s * flops_per_token / ceiling : -1;
    info.eta_s = session_seconds / double(step_ - start_step) * double(opts_.steps - step_);
    progress_->update(format_progress(info), log_point);
    if (log_point) {
      MetricLine line = {{"step", step_},
                         {"loss", r.loss},
                         {"lr", r.lr},
                         {"grad_norm", r.grad_norm},
                         {"tokens", tokens_seen_},
                         {"tokens_per_s", info.tokens_per_s},
                         {"ms_per_step", 1e3 * interval_seconds /
                                             double(std::max<int64_t>(interval_steps, 1))},
                         {"time_s", train_seconds_}};
      if (info.mfu >= 0) line.emplace_back("mfu", info.mfu);
      for (const auto& [k, v] : r.metrics) line.emplace_back(k, v);
      metrics.write(line);
      interval_seconds = 0;
      interval_tokens = 0;
      interval_steps = 0;
    }

    const int sig = signals ? StopSignals::received() : 0;
    const bool stop = stop_requested_ || sig != 0;
    if (!stop && step_ < opts_.steps) {
      if (can_eval && opts_.eval_every > 0 && step_ % opts_.eval_every == 0) log_eval();
      if (opts_.checkpoint_every > 0 && step_ % opts_.checkpoint_every == 0) {
        res.checkpoint = save_checkpoint();
        print(str_cat("step ", step_, " | checkpoint ", res.checkpoint));
      }
    }
    if (stop) {
      res.stopped = true;
      res.signal = sig;
      break;
    }
  }
  progress_->finish();

  if (!res.stopped && can_eval) log_eval();
  if (step_ > start_step || !latest_checkpoint(run.checkpoints())) {
    res.checkpoint = save_checkpoint();
    print(str_cat("step ", step_, " | checkpoint ", res.checkpoint));
  } else if (std::optional<CheckpointRef> c = latest_checkpoint(run.checkpoints())) {
    res.checkpoint = c->path;
  }
  if (res.stopped)
    print(str_cat("stopped at step ", step_, " of ", opts_.steps,
                  res.signal == SIGINT    ? " (SIGINT)"
                  : res.signal == SIGTERM ? " (SIGTERM)"
                                          : "",
                  "; continue with: kiln train ", run.root(), " --resume"));
  else
    print(str_cat("done: ", step_, " steps in ", format_duration(train_seconds_), " of training"));
  res.step = step_;
  res.val_loss = last_val_loss_;
  progress_.reset();
  return res;
}

}  // namespace kiln::train
