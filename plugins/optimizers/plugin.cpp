// The optimizers plugin: registers the optimizers and schedules of this folder.
#include "core/registry/plugin.h"
#include "plugins/optimizers/adamw.h"
#include "plugins/optimizers/lion.h"
#include "plugins/optimizers/schedules.h"
#include "plugins/optimizers/sgd.h"

namespace kiln::optimizers {
namespace {

using train::OptimizerFactory;
using train::ParamGroup;
using train::Schedule;

// An OptimizerFactory from a lambda over the parameter groups.
template <class F>
class LambdaFactory final : public OptimizerFactory {
 public:
  explicit LambdaFactory(F f) : f_(std::move(f)) {}
  std::unique_ptr<train::Optimizer> make(std::vector<ParamGroup> groups) const override { return f_(std::move(groups)); }

 private:
  F f_;
};

template <class F>
std::shared_ptr<OptimizerFactory> factory(F f) {
  return std::make_shared<LambdaFactory<F>>(std::move(f));
}

std::pair<double, double> betas(const Config& c) {
  const Config& b = c.at("betas");
  if (b.size() != 2) b.fail("expected two numbers {beta1, beta2}, got a list of " + std::to_string(b.size()));
  return {b[0].as_number(), b[1].as_number()};
}

void check_betas(const Config& c, double b1, double b2) {
  if (!(b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) c.at("betas").fail("betas must lie in [0, 1)");
}

void register_optimizers(Registry& r) {
  Schema adamw("AdamW (Loshchilov & Hutter 2019): Adam with weight decay decoupled from the gradient");
  adamw.number("lr", 1e-3, "learning rate (the schedule scales it)").min(0);
  adamw.list("betas", ParamType::number(), Config::list({Config(0.9), Config(0.999)}),
             "decay rates of the first and second moment estimates {beta1, beta2}");
  adamw.number("eps", 1e-8, "added to the root of the second moment").min(0);
  adamw.number("weight_decay", 0.01, "decoupled decay: p -= lr * weight_decay * p").min(0);
  r.add<OptimizerFactory>("optimizer", "adamw", adamw, [](const Config& c) {
    AdamWOptions o;
    o.lr = c.get<double>("lr");
    std::tie(o.beta1, o.beta2) = betas(c);
    check_betas(c, o.beta1, o.beta2);
    o.eps = c.get<double>("eps");
    o.weight_decay = c.get<double>("weight_decay");
    return factory([o](std::vector<ParamGroup> g) { return std::make_unique<AdamW>(std::move(g), o); });
  });

  Schema sgd("stochastic gradient descent with momentum, dampening, Nesterov and L2 weight decay (torch.optim.SGD)");
  sgd.number("lr", 1e-3, "learning rate").min(0);
  sgd.number("momentum", 0.0, "momentum factor").range(0, 1);
  sgd.number("dampening", 0.0, "dampening of the momentum").range(0, 1);
  sgd.boolean("nesterov", false, "Nesterov momentum (needs momentum > 0 and dampening 0)");
  sgd.number("weight_decay", 0.0, "L2 penalty added to the gradient").min(0);
  r.add<OptimizerFactory>("optimizer", "sgd", sgd, [](const Config& c) {
    SGDOptions o;
    o.lr = c.get<double>("lr");
    o.momentum = c.get<double>("momentum");
    o.dampening = c.get<double>("dampening");
    o.nesterov = c.get<bool>("nesterov");
    o.weight_decay = c.get<double>("weight_decay");
    if (o.nesterov && (o.momentum <= 0 || o.dampening != 0))
      c.at("nesterov").fail("Nesterov momentum needs momentum > 0 and dampening = 0");
    return factory([o](std::vector<ParamGroup> g) { return std::make_unique<SGD>(std::move(g), o); });
  });

  Schema lion("Lion (Chen et al. 2023): the sign of an interpolated momentum, with decoupled weight decay");
  lion.number("lr", 1e-4, "learning rate (typically 3-10x smaller than AdamW's)").min(0);
  lion.list("betas", ParamType::number(), Config::list({Config(0.9), Config(0.99)}),
            "interpolation {beta1} and momentum decay {beta2}");
  lion.number("weight_decay", 0.0, "decoupled decay: p -= lr * weight_decay * p").min(0);
  r.add<OptimizerFactory>("optimizer", "lion", lion, [](const Config& c) {
    LionOptions o;
    o.lr = c.get<double>("lr");
    std::tie(o.beta1, o.beta2) = betas(c);
    check_betas(c, o.beta1, o.beta2);
    o.weight_decay = c.get<double>("weight_decay");
    return factory([o](std::vector<ParamGroup> g) { return std::make_unique<Lion>(std::move(g), o); });
  });
}

// Schedules whose length is the run's: `total` may be left out of the spec, and the trainer
// fills it in with train.steps.
int64_t total_steps(const Config& c) {
  const Config* t = c.find("total");
  if (!t || t->is_null()) c.fail("the schedule needs its length: set total (the trainer sets it to train.steps)");
  int64_t total = t->as_int();
  int64_t warmup = c.get<int64_t>("warmup", 0);
  if (warmup > total) c.at("warmup").fail("warmup (" + std::to_string(warmup) + ") is longer than total (" +
                                          std::to_string(total) + ")");
  return total;
}

void register_schedules(Registry& r) {
  r.add<Schedule>("schedule", "constant", Schema("a constant learning rate"),
                  [](const Config&) { return std::make_shared<ConstantSchedule>(); });

  Schema warmup("linear warmup over the first steps, then constant");
  warmup.integer("warmup", 0, "steps of warmup: the multiplier is (t+1)/warmup below it").min(0);
  r.add<Schedule>("schedule", "warmup", warmup, [](const Config& c) {
    return std::make_shared<LinearWarmupSchedule>(c.get<int64_t>("warmup"));
  });

  Schema cosine("linear warmup, then cosine decay to min_ratio of the base rate at total steps");
  cosine.integer("warmup", 0, "steps of linear warmup").min(0);
  cosine.optional("total", ParamType::integer(), "length of the schedule (default: train.steps)");
  cosine.number("min_ratio", 0.0, "the floor, as a fraction of the base rate").range(0, 1);
  r.add<Schedule>("schedule", "cosine", cosine, [](const Config& c) {
    return std::make_shared<CosineSchedule>(c.get<int64_t>("warmup"), total_steps(c), c.get<double>("min_ratio"));
  });

  Schema linear("linear warmup, then linear decay to min_ratio of the base rate at total steps");
  linear.integer("warmup", 0, "steps of linear warmup").min(0);
  linear.optional("total", ParamType::integer(), "length of the schedule (default: train.steps)");
  linear.number("min_ratio", 0.0, "the floor, as a fraction of the base rate").range(0, 1);
  r.add<Schedule>("schedule", "linear", linear, [](const Config& c) {
    return std::make_shared<LinearDecaySchedule>(c.get<int64_t>("warmup"), total_steps(c), c.get<double>("min_ratio"));
  });

  Schema wsd("warmup-stable-decay: linear warmup, a constant stretch, then linear decay over the last fraction");
  wsd.integer("warmup", 0, "steps of linear warmup").min(0);
  wsd.optional("total", ParamType::integer(), "length of the schedule (default: train.steps)");
  wsd.number("decay_fraction", 0.2, "the fraction of total spent decaying").range(0, 1);
  wsd.number("min_ratio", 0.0, "the floor, as a fraction of the base rate").range(0, 1);
  r.add<Schedule>("schedule", "wsd", wsd, [](const Config& c) {
    return std::make_shared<WarmupStableDecaySchedule>(c.get<int64_t>("warmup"), total_steps(c),
                                                       c.get<double>("decay_fraction"), c.get<double>("min_ratio"));
  });
}

void register_components(Registry& r) {
  register_optimizers(r);
  register_schedules(r);
}

}  // namespace
}  // namespace kiln::optimizers

KILN_PLUGIN("kiln_optimizers", "0.1.0", kiln::optimizers::register_components)
