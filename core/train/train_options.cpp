#include "core/train/train_options.h"

#include "core/registry/registry.h"

namespace kiln::train {

namespace {

Config component(const std::string& kind, const std::string& name) {
  Config c = Config::table();
  c.set_component(kind, name);
  return c;
}

}  // namespace

Schema train_section_schema() {
  Schema s("the training loop: objective, optimizer, schedule, batches, evaluation, checkpoints");
  s.component("objective", "objective", component("objective", "causal_lm"), "the training loss");
  s.component("optimizer", "optimizer", component("optimizer", "adamw"),
              "the optimizer (its weight_decay applies to the decayed group, see no_decay)");
  s.component("schedule", "schedule", component("schedule", "constant"),
              "the learning-rate schedule (a schedule's total defaults to steps)");
  s.optional("init", ParamType::string(),
             "start from trained weights: a run directory (its latest checkpoint), a "
             "checkpoint directory or hf:DIR (a Hugging Face checkpoint); a wrapper model "
             "(scalar_head, value_head) takes them into its wrapped model. The data's "
             "tokenizer must be the one they were trained with");
  s.integer("steps", std::nullopt, "optimizer updates to train for").min(1);
  s.integer("batch", 8, "sequences per micro-batch").min(1);
  s.optional("seq_len", ParamType::integer(), "tokens per sequence (default: the model's context)")
      .min(1);
  s.integer("grad_accum", 1, "micro-batches whose gradients add up to one update").min(1);
  s.number("grad_clip", 1.0, "clip gradients to this global L2 norm (0: no clipping)").min(0);
  s.choice("precision", {"f32", "bf16"}, "f32",
           "bf16: matmuls in bf16 (autocast) with f32 master weights");
  s.integer("eval_every", 0, "steps between evaluations of the val loss (0: only at the end)")
      .min(0);
  s.integer("eval_batches", 20, "val batches per evaluation (0: no evaluation)").min(0);
  s.integer("log_every", 10, "steps between lines of the progress log and metrics.jsonl").min(1);
  s.integer("checkpoint_every", 0, "steps between checkpoints (0: only at the end)").min(0);
  s.integer("keep_checkpoints", 3, "checkpoints kept in the run (the oldest are removed)").min(1);
  // T5's relative position bias is a table of biases looked up by bucket, an embedding too.
  s.list("no_decay", ParamType::string(),
         Config::list({Config("embeddings."), Config("wte"), Config("wpe"),
                       Config("shared.weight"), Config("rel_pos")}),
         "parameters whose name contains one of these get no weight decay (embedding tables: "
         "an encoder's token, position and type embeddings, a decoder's wte and wpe, an "
         "encoder-decoder's shared token embedding, T5's relative position bias; ALBERT's "
         "embed_proj is a matrix and decays)");
  s.boolean("decay_vectors", false,
            "decay 1-d parameters too (norm gains and biases, which by default get no decay)");
  return s;
}

void register_train_section(Registry& registry) {
  registry.set_section_schema("train", train_section_schema());
}

TrainOptions read_train_options(Config& train, int64_t context) {
  TrainOptions o;
  o.steps = train.get<int64_t>("steps");
  o.batch = train.get<int64_t>("batch");
  o.grad_accum = train.get<int64_t>("grad_accum");
  o.grad_clip = train.get<double>("grad_clip");
  o.precision = train.get<std::string>("precision") == "bf16" ? DType::bf16 : DType::f32;
  o.eval_every = train.get<int64_t>("eval_every");
  o.eval_batches = train.get<int64_t>("eval_batches");
  o.log_every = train.get<int64_t>("log_every");
  o.checkpoint_every = train.get<int64_t>("checkpoint_every");
  o.keep_checkpoints = train.get<int64_t>("keep_checkpoints");
  for (const Config& p : train.at("no_decay").items()) o.no_decay.push_back(p.as_string());
  o.decay_vectors = train.get<bool>("decay_vectors");
  if (const Config* init = train.find("init"); init && !init->is_null()) o.init = init->as_string();

  o.seq_len = train.get<int64_t>("seq_len", context);
  if (o.seq_len > context) {
    const Config& at = train.at("seq_len");
    at.fail(str_cat("seq_len ", o.seq_len, " is longer than the model's context (", context,
                    " positions); lower it or raise the model's context"));
  }

  o.objective = train.at("objective");
  o.optimizer = train.at("optimizer");
  Config& schedule = train.at("schedule");
  if (const ComponentInfo* c =
          Registry::global().find(schedule.component_kind(), schedule.component_name())) {
    const Config* total = schedule.find("total");
    if (c->schema.find("total") && (!total || total->is_null())) {
      Config& t = schedule.set("total", Config(o.steps));
      t.set_loc(schedule.loc());
      schedule.set_path(schedule.path());
    }
  }
  o.schedule = schedule;
  return o;
}

}  // namespace kiln::train
