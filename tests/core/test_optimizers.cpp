// Optimizers, schedules and gradient clipping. Every update is checked against the published
// formula written out here in double; each optimizer minimises a quadratic; state dicts resume
// bit for bit (through a safetensors file, as a checkpoint does).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/io/safetensors.h"
#include "core/train/clip.h"
#include "plugins/optimizers/adamw.h"
#include "plugins/optimizers/lion.h"
#include "plugins/optimizers/schedules.h"
#include "plugins/optimizers/sgd.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

using optimizers::AdamW;
using optimizers::Lion;
using optimizers::SGD;
using train::ParamGroup;
using Vec = std::vector<double>;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}
#define EXPECT_HAS(msg, part) EXPECT_NE((msg).find(part), std::string::npos) << (msg)

Tensor param(const Vec& v, DType dtype = DType::f64) {
  return tensor(v, {int64_t(v.size())}, dtype).requires_grad_();
}
void set_grad(const Tensor& p, const Vec& g) {
  p.set_grad(tensor(g, {int64_t(g.size())}, p.dtype()));
}
Vec values(const Tensor& t) {
  return t.to_vector<double>();
}

void expect_near(const Vec& got, const Vec& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::fabs(want[i]))) << "element " << i;
}

// Gradients for step t of the reference runs: fixed, varied values, including zeros.
Vec grad_at(int t, size_t n) {
  Vec g(n);
  for (size_t i = 0; i < n; ++i)
    g[i] = std::sin(1.3 * double(i + 1) + 0.7 * t) * (i % 3 == 2 ? 0.0 : 1.0 + i);
  return g;
}

// ---- the published update rules, in double ---------------------------------------------------

struct RefSGD {  // torch.optim.SGD's documented algorithm
  double lr, mu, damp, wd;
  bool nesterov;
  Vec buf;
  int t = 0;
  void step(Vec& p, const Vec& g0) {
    Vec g = g0;
    for (size_t i = 0; i < p.size(); ++i) g[i] += wd * p[i];
    if (mu != 0) {
      if (t == 0)
        buf = g;
      else
        for (size_t i = 0; i < p.size(); ++i) buf[i] = mu * buf[i] + (1 - damp) * g[i];
      for (size_t i = 0; i < p.size(); ++i) g[i] = nesterov ? g[i] + mu * buf[i] : buf[i];
    }
    for (size_t i = 0; i < p.size(); ++i) p[i] -= lr * g[i];
    ++t;
  }
};

struct RefAdamW {  // Loshchilov & Hutter, Algorithm 2, with PyTorch's placement of eps
  double lr, b1, b2, eps, wd;
  Vec m, v;
  int t = 0;
  void step(Vec& p, const Vec& g) {
    if (t == 0) m = v = Vec(p.size(), 0.0);
    ++t;
    for (size_t i = 0; i < p.size(); ++i) {
      p[i] -= lr * wd * p[i];
      m[i] = b1 * m[i] + (1 - b1) * g[i];
      v[i] = b2 * v[i] + (1 - b2) * g[i] * g[i];
      double mhat = m[i] / (1 - std::pow(b1, t)), vhat = v[i] / (1 - std::pow(b2, t));
      p[i] -= lr * mhat / (std::sqrt(vhat) + eps);
    }
  }
};

struct RefLion {  // Chen et al. 2023, Algorithm 2
  double lr, b1, b2, wd;
  Vec m;
  void step(Vec& p, const Vec& g) {
    if (m.empty()) m = Vec(p.size(), 0.0);
    for (size_t i = 0; i < p.size(); ++i) {
      double c = b1 * m[i] + (1 - b1) * g[i];
      double s = c > 0 ? 1.0 : c < 0 ? -1.0 : 0.0;
      p[i] -= lr * (s + wd * p[i]);
      m[i] = b2 * m[i] + (1 - b2) * g[i];
    }
  }
};

// ---- SGD ------------------------------------------------------------------------------------

void check_sgd(optimizers::SGDOptions o) {
  Vec p0 = {1.0, -2.0, 3.0, 0.5, -0.25};
  Tensor p = param(p0);
  SGD opt({p}, o);
  RefSGD ref{o.lr, o.momentum, o.dampening, o.weight_decay, o.nesterov, {}};
  Vec want = p0;
  for (int t = 0; t < 4; ++t) {
    set_grad(p, grad_at(t, 5));
    opt.step();
    ref.step(want, grad_at(t, 5));
    expect_near(values(p), want, 1e-15);
  }
}

TEST(Optimizers, SGDPlain) {
  check_sgd({.lr = 0.1});
}
TEST(Optimizers, SGDMomentumDampeningWeightDecay) {
  check_sgd({.lr = 0.05, .momentum = 0.9, .dampening = 0.3, .weight_decay = 0.01});
}
TEST(Optimizers, SGDNesterov) {
  check_sgd({.lr = 0.05, .momentum = 0.8, .nesterov = true, .weight_decay = 0.1});
}

TEST(Optimizers, SGDRefusesBadOptions) {
  Tensor p = param({1.0});
  EXPECT_HAS(message_of([&] { SGD({p}, {.lr = 0.1, .nesterov = true}); }),
             "Nesterov momentum, which needs momentum > 0 and dampening = 0");
  EXPECT_HAS(message_of([&] { SGD({p}, {.lr = -1}); }), "SGD: group 0 has lr = -1");
}

// ---- AdamW ----------------------------------------------------------------------------------

TEST(Optimizers, AdamWMatchesTheFormulaWithWeightDecayAndGroups) {
  Vec a0 = {0.5, -1.5, 2.0, 0.0, 1e-3}, b0 = {3.0, -0.1, 0.2};
  Tensor a = param(a0), b = param(b0);
  // Group 0 uses the defaults given to the constructor; group 1 overrides lr, weight decay
  // and both betas.
  AdamW opt(
      {ParamGroup{{a}, {}, {}, {}}, ParamGroup{{b}, 0.02, 0.0, {{"beta1", 0.5}, {"beta2", 0.9}}}},
      {.lr = 0.1, .beta1 = 0.9, .beta2 = 0.999, .eps = 1e-8, .weight_decay = 0.1});
  RefAdamW ra{0.1, 0.9, 0.999, 1e-8, 0.1, {}, {}}, rb{0.02, 0.5, 0.9, 1e-8, 0.0, {}, {}};
  Vec wa = a0, wb = b0;
  for (int t = 0; t < 5; ++t) {
    set_grad(a, grad_at(t, 5));
    set_grad(b, grad_at(t + 10, 3));
    opt.step();
    ra.step(wa, grad_at(t, 5));
    rb.step(wb, grad_at(t + 10, 3));
    expect_near(values(a), wa, 1e-14);
    expect_near(values(b), wb, 1e-14);
  }
  EXPECT_EQ(opt.steps(), 5);
  EXPECT_EQ(opt.group(1).options.at("beta1"), 0.5);
  EXPECT_EQ(opt.group(1).options.at("eps"), 1e-8);  // filled from the defaults
}

TEST(Optimizers, AdamWInF32MatchesTheDoubleFormula) {
  Vec p0 = {0.5, -1.5, 2.0, 0.25, 1.0, -3.0};
  Tensor p = param(p0, DType::f32);
  AdamW opt({p}, {.lr = 0.01, .weight_decay = 0.05});
  RefAdamW ref{0.01, 0.9, 0.999, 1e-8, 0.05, {}, {}};
  Vec want = p0;
  for (int t = 0; t < 5; ++t) {
    set_grad(p, grad_at(t, 6));
    opt.step();
    ref.step(want, grad_at(t, 6));
  }
  expect_near(values(p), want, 2e-6);
}

TEST(Optimizers, AdamWUpdatesBf16ThroughAnF32Master) {
  // Updates of 1e-4 are far below bf16's resolution at 1 (2^-7): without a master copy the
  // parameter would never move.
  const int n = 4;
  Tensor p = param(Vec(n, 1.0), DType::bf16);
  AdamW opt({p}, {.lr = 1e-4, .weight_decay = 0.0});
  RefAdamW ref{1e-4, 0.9, 0.999, 1e-8, 0.0, {}, {}};
  Vec want(n, 1.0);
  for (int t = 0; t < 200; ++t) {
    set_grad(p, Vec(n, 0.5));  // exactly representable in bf16
    opt.step();
    ref.step(want, Vec(n, 0.5));
  }
  Tensor master = opt.state_dict().at("state.0.master");
  EXPECT_EQ(master.dtype(), DType::f32);
  expect_near(values(master), want, 2e-5);  // ~0.98; f32 rounding over 200 steps
  // The parameter is the master rounded to bf16.
  EXPECT_EQ(values(p), values(master.to(DType::bf16)));
  EXPECT_LT(values(p)[0], 0.99);
}

TEST(Optimizers, AdamWRefusesBadOptions) {
  Tensor p = param({1.0});
  EXPECT_HAS(message_of([&] { AdamW({p}, {.beta1 = 1.0}); }),
             "AdamW: group 0 has beta1 = 1; expected a value in [0, 1)");
  EXPECT_HAS(message_of([&] {
               AdamW({ParamGroup{{p}, {}, {}, {{"momentum", 0.9}}}});
             }),
             "group 0 sets unknown option 'momentum'; the options of AdamW are: beta1, beta2, eps");
  EXPECT_HAS(message_of([&] {
               AdamW({ParamGroup{{p}, {}, {}, {}}, ParamGroup{{p}, {}, {}, {}}});
             }),
             "parameter 0 of group 1 appears more than once");
  EXPECT_HAS(message_of([&] { AdamW({arange(3)}); }), "only floating tensors can be optimized");
  Tensor x = ones({2}).requires_grad_();
  EXPECT_HAS(message_of([&] { AdamW({ops::mul(x, 2.0)}); }), "is not a leaf");
  EXPECT_HAS(message_of([&] { AdamW({ones({2, 3}).transpose(0, 1)}); }), "is not contiguous");
}

// ---- Lion -----------------------------------------------------------------------------------

TEST(Optimizers, LionMatchesTheFormula) {
  Vec p0 = {0.5, -1.5, 2.0, 0.0, 1.0, -0.3};
  Tensor p = param(p0);
  Lion opt({p}, {.lr = 0.01, .beta1 = 0.9, .beta2 = 0.99, .weight_decay = 0.1});
  RefLion ref{0.01, 0.9, 0.99, 0.1, {}};
  Vec want = p0;
  for (int t = 0; t < 5; ++t) {
    set_grad(p, grad_at(t, 6));
    opt.step();
    ref.step(want, grad_at(t, 6));
    expect_near(values(p), want, 1e-15);
  }
}

// ---- behaviour shared by all ----------------------------------------------------------------

// Minimises f(p) = 1/2 sum a_i (p_i - c_i)^2 with gradients from autograd.
Vec minimise(train::Optimizer& opt, const Tensor& p, int steps,
             const train::Schedule* schedule = nullptr) {
  Tensor a = tensor({1.0, 4.0, 0.5, 2.0}, {}, DType::f64),
         c = tensor({1.0, -2.0, 3.0, 0.5}, {}, DType::f64);
  for (int t = 0; t < steps; ++t) {
    if (schedule) train::apply_schedule(*schedule, opt);
    opt.zero_grad();
    ops::mul(ops::sum(ops::mul(a, ops::square(ops::sub(p, c)))), 0.5).backward();
    opt.step();
  }
  return values(p);
}

TEST(Optimizers, EachMinimisesAQuadratic) {
  const Vec c = {1.0, -2.0, 3.0, 0.5};
  {
    Tensor p = param(Vec(4, 0.0));
    SGD opt({p}, {.lr = 0.1, .momentum = 0.5});
    expect_near(minimise(opt, p, 300), c, 1e-6);
  }
  {
    Tensor p = param(Vec(4, 0.0));
    SGD opt({p}, {.lr = 0.1, .momentum = 0.5, .nesterov = true});
    expect_near(minimise(opt, p, 300), c, 1e-6);
  }
  {
    Tensor p = param(Vec(4, 0.0));
    AdamW opt({p}, {.lr = 0.05, .weight_decay = 0.0});
    optimizers::CosineSchedule cosine(10, 2000, 0.0);
    expect_near(minimise(opt, p, 2000, &cosine), c, 1e-3);
  }
  {
    // Lion moves every coordinate by lr each step; a decaying lr lets it settle.
    Tensor p = param(Vec(4, 0.0));
    Lion opt({p}, {.lr = 0.02});
    optimizers::LinearDecaySchedule decay(0, 2000, 0.0);
    expect_near(minimise(opt, p, 2000, &decay), c, 5e-3);
  }
}

TEST(Optimizers, ParametersWithoutGradientsAreSkipped) {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  AdamW opt({a, b}, {.lr = 0.1});
  set_grad(a, {1.0, 1.0});
  opt.step();
  EXPECT_EQ(values(b), Vec{3.0});
  train::TensorDict sd = opt.state_dict();
  EXPECT_EQ(sd.at("state.0.step").item(), 1.0);
  EXPECT_EQ(sd.count("state.1.step"), 0u);
  EXPECT_EQ(sd.at("step").item(), 1.0);
  opt.zero_grad();
  EXPECT_FALSE(a.grad().defined());
}

TEST(Optimizers, LrControl) {
  Tensor a = param({1.0}), b = param({2.0});
  SGD opt({ParamGroup{{a}, 0.1, {}, {}}, ParamGroup{{b}, 0.4, {}, {}}});
  opt.set_lr_multiplier(0.5);
  EXPECT_EQ(opt.lr(0), 0.05);
  EXPECT_EQ(opt.lr(1), 0.2);
  opt.set_lr(1, 1.0);
  EXPECT_EQ(opt.lr(1), 1.0);
  opt.set_lr(0.3);
  EXPECT_EQ(opt.lr(0), 0.3);
  optimizers::LinearWarmupSchedule warmup(4);
  train::apply_schedule(warmup, opt);  // step 0: multiplier 1/4 of the constructed lrs
  EXPECT_EQ(opt.lr(0), 0.025);
  EXPECT_EQ(opt.lr(1), 0.1);
  EXPECT_THROW(opt.set_lr(-1.0), Error);
}

// Runs `steps` updates with grads that depend on step and parameter values (so any difference
// in state shows up).
void run_steps(train::Optimizer& opt, const std::vector<Tensor>& ps, int from, int steps) {
  for (int t = from; t < from + steps; ++t) {
    for (size_t i = 0; i < ps.size(); ++i) {
      Vec v = values(ps[i]), g = grad_at(t + int(i), v.size());
      for (size_t j = 0; j < v.size(); ++j) g[j] += 0.3 * v[j];
      set_grad(ps[i], g);
    }
    opt.step();
  }
}

template <class Opt, class Options>
void check_resume(const Options& o) {
  auto make_params = [] {
    return std::vector<Tensor>{param({0.5, -1.0, 2.0}, DType::f32), param({1.0, 0.25}, DType::bf16),
                               param({0.1, 0.2, 0.3, 0.4}, DType::f64), param({7.0}, DType::f32)};
  };
  std::vector<Tensor> pa = make_params();
  Opt a(pa, o);
  run_steps(a, {pa[0], pa[1], pa[2]}, 0, 5);  // the last parameter never gets a gradient

  // Checkpoint: parameters and optimizer state through safetensors files.
  const std::string dir = ::testing::TempDir();
  const std::string opt_path = dir + "/kiln_test_opt.safetensors";
  safetensors::TensorMap params;
  for (size_t i = 0; i < pa.size(); ++i) params[std::to_string(i)] = pa[i];
  safetensors::write(dir + "/kiln_test_params.safetensors", params);
  safetensors::write(opt_path, a.state_dict());

  run_steps(a, {pa[0], pa[1], pa[2]}, 5, 5);

  safetensors::File saved = safetensors::read(dir + "/kiln_test_params.safetensors");
  std::vector<Tensor> pb;
  for (size_t i = 0; i < pa.size(); ++i)
    pb.push_back(saved.tensors.at(std::to_string(i)).clone().requires_grad_());
  Opt b(pb, o);
  b.load_state_dict(safetensors::read(opt_path).tensors);
  EXPECT_EQ(b.steps(), 5);
  run_steps(b, {pb[0], pb[1], pb[2]}, 5, 5);
  for (size_t i = 0; i < pa.size(); ++i)
    EXPECT_EQ(values(pa[i]), values(pb[i])) << "parameter " << i;
  train::TensorDict sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(sa.size(), sb.size());
  for (const auto& [k, t] : sa) EXPECT_EQ(values(t), values(sb.at(k))) << k;
  std::filesystem::remove(opt_path);
  std::filesystem::remove(dir + "/kiln_test_params.safetensors");
}

TEST(Optimizers, StateDictResumesBitForBit) {
  check_resume<AdamW>(optimizers::AdamWOptions{.lr = 0.01, .weight_decay = 0.1});
  check_resume<SGD>(optimizers::SGDOptions{.lr = 0.01, .momentum = 0.9, .nesterov = true});
  check_resume<Lion>(optimizers::LionOptions{.lr = 0.01, .weight_decay = 0.1});
}

TEST(Optimizers, StateDictKeys) {
  Tensor a = param({1.0, 2.0}, DType::bf16), b = param({3.0});
  AdamW opt({a, b});
  set_grad(a, {1.0, 1.0});
  set_grad(b, {1.0});
  opt.step();
  std::vector<std::string> keys;
  for (const auto& [k, t] : opt.state_dict()) keys.push_back(k);
  EXPECT_EQ(keys, (std::vector<std::string>{"state.0.exp_avg", "state.0.exp_avg_sq",
                                            "state.0.master", "state.0.step", "state.1.exp_avg",
                                            "state.1.exp_avg_sq", "state.1.step", "step"}));
  EXPECT_EQ(opt.state_dict().at("state.1.exp_avg").dtype(), DType::f64);
  EXPECT_EQ(opt.state_dict().at("state.0.exp_avg").dtype(), DType::f32);
}

TEST(Optimizers, LoadStateDictReportsEveryProblem) {
  Tensor a = param({1.0, 2.0}), b = param({3.0});
  AdamW opt({a, b});
  set_grad(a, {1.0, 1.0});
  set_grad(b, {1.0});
  opt.step();
  train::TensorDict sd = opt.state_dict();
  sd.erase("state.1.exp_avg_sq");
  sd["state.0.exp_avg"] = zeros({3}, DType::f64);
  sd["state.0.momentum_buffer"] = zeros({2}, DType::f64);
  sd["state.5.exp_avg"] = zeros({1}, DType::f64);
  sd["lr"] = scalar(0.1);
  const Vec before = values(a);
  std::string msg = message_of([&] { opt.load_state_dict(sd); });
  EXPECT_HAS(msg, "AdamW.load_state_dict: 5 problems");
  EXPECT_HAS(msg, "missing key 'state.1.exp_avg_sq'");
  EXPECT_HAS(
      msg,
      "key 'state.0.exp_avg': shape [3] f64 in the dict, expected shape [2] f64 (parameter 0)");
  EXPECT_HAS(msg, "unexpected key 'state.0.momentum_buffer'");
  EXPECT_HAS(msg, "key 'state.5.exp_avg' is for parameter 5 but the optimizer has 2 parameters");
  EXPECT_HAS(msg, "unexpected key 'lr'");
  EXPECT_HAS(message_of([&] { opt.load_state_dict({}); }), "missing key 'step'");
  EXPECT_EQ(values(a), before);
}

// ---- schedules ------------------------------------------------------------------------------

TEST(Schedules, ValuesFromTheirFormulas) {
  optimizers::ConstantSchedule constant;
  EXPECT_EQ(constant.multiplier(0), 1.0);
  EXPECT_EQ(constant.multiplier(12345), 1.0);

  optimizers::LinearWarmupSchedule warm(10);
  EXPECT_DOUBLE_EQ(warm.multiplier(0), 0.1);
  EXPECT_DOUBLE_EQ(warm.multiplier(4), 0.5);
  EXPECT_DOUBLE_EQ(warm.multiplier(9), 1.0);
  EXPECT_DOUBLE_EQ(warm.multiplier(500), 1.0);
  EXPECT_EQ(optimizers::LinearWarmupSchedule(0).multiplier(0), 1.0);

  // Cosine: warmup 10, total 110, floor 0.1. Half way through the decay (t = 60) the cosine
  // is 0, so the multiplier is 0.1 + 0.9 / 2; a quarter in, cos(pi/4) = sqrt(2)/2.
  optimizers::CosineSchedule cosine(10, 110, 0.1);
  EXPECT_DOUBLE_EQ(cosine.multiplier(0), 0.1);
  EXPECT_DOUBLE_EQ(cosine.multiplier(9), 1.0);
  EXPECT_DOUBLE_EQ(cosine.multiplier(10), 1.0);
  EXPECT_DOUBLE_EQ(cosine.multiplier(35), 0.1 + 0.9 * 0.5 * (1 + std::sqrt(2.0) / 2));
  EXPECT_DOUBLE_EQ(cosine.multiplier(60), 0.55);
  EXPECT_DOUBLE_EQ(cosine.multiplier(110), 0.1);
  EXPECT_DOUBLE_EQ(cosine.multiplier(1000), 0.1);

  optimizers::LinearDecaySchedule linear(0, 100, 0.0);
  EXPECT_DOUBLE_EQ(linear.multiplier(0), 1.0);
  EXPECT_DOUBLE_EQ(linear.multiplier(25), 0.75);
  EXPECT_NEAR(linear.multiplier(99), 0.01, 1e-15);
  EXPECT_DOUBLE_EQ(linear.multiplier(100), 0.0);

  // WSD: warmup 5, total 100, the last 20% decays linearly to 0.1 from step 80.
  optimizers::WarmupStableDecaySchedule wsd(5, 100, 0.2, 0.1);
  EXPECT_EQ(wsd.decay_start(), 80);
  EXPECT_DOUBLE_EQ(wsd.multiplier(0), 0.2);
  EXPECT_DOUBLE_EQ(wsd.multiplier(4), 1.0);
  EXPECT_DOUBLE_EQ(wsd.multiplier(50), 1.0);
  EXPECT_DOUBLE_EQ(wsd.multiplier(79), 1.0);
  EXPECT_DOUBLE_EQ(wsd.multiplier(80), 1.0);
  EXPECT_DOUBLE_EQ(wsd.multiplier(90), 1.0 - 0.9 * 0.5);
  EXPECT_DOUBLE_EQ(wsd.multiplier(100), 0.1);
}

TEST(Schedules, RefuseBadArguments) {
  EXPECT_HAS(message_of([] { optimizers::CosineSchedule(10, 10); }),
             "total steps (10) must exceed the warmup (10)");
  EXPECT_HAS(message_of([] { optimizers::CosineSchedule(0, 10, 1.5); }),
             "min_ratio must be in [0, 1], got 1.5");
  EXPECT_HAS(message_of([] { optimizers::WarmupStableDecaySchedule(90, 100, 0.5); }),
             "must start after the warmup");
  EXPECT_HAS(message_of([] { optimizers::ConstantSchedule().multiplier(-1); }),
             "step must be >= 0");
}

// ---- clipping -------------------------------------------------------------------------------

TEST(Clip, ReturnsTheNormAndScalesGradients) {
  Tensor a = param({0.0, 0.0}), b = param({0.0}, DType::f32), c = param({5.0});
  set_grad(a, {3.0, 4.0});
  set_grad(b, {12.0});  // c has no gradient: skipped
  double norm = train::clip_grad_norm({a, b, c}, 6.5);
  EXPECT_EQ(norm, 13.0);
  const double k = 6.5 / (13.0 + 1e-6);
  expect_near(values(a.grad()), {3 * k, 4 * k}, 1e-15);
  expect_near(values(b.grad()), {12 * k}, 1e-7);
  EXPECT_FALSE(c.grad().defined());
  EXPECT_NEAR(train::grad_norm({a, b, c}), 6.5, 1e-6);
  // Below the limit nothing changes.
  EXPECT_NEAR(train::clip_grad_norm({a, b}, 100.0), 6.5, 1e-6);
  expect_near(values(a.grad()), {3 * k, 4 * k}, 1e-15);
}

TEST(Clip, NonFiniteNormLeavesGradientsAlone) {
  Tensor a = param({0.0, 0.0});
  set_grad(a, {INFINITY, 1.0});
  EXPECT_TRUE(std::isinf(train::clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(values(a.grad())[1], 1.0);
}

TEST(Clip, NormIsIndependentOfThreadsAndAccurate) {
  Tensor p = param(Vec(1, 0.0));
  Tensor big = randn({300001}, DType::f32);
  Tensor q = zeros({300001}).requires_grad_();
  q.set_grad(big);
  p.set_grad(tensor({2.0}, {1}, DType::f64));
  double n1, n2;
  {
    ThreadCountGuard g(1);
    n1 = train::grad_norm({p, q});
  }
  {
    ThreadCountGuard g(2);
    n2 = train::grad_norm({p, q});
  }
  EXPECT_EQ(n1, n2);
  long double s = 4.0L;
  for (float x : big.to_vector<float>()) s += (long double)x * x;
  EXPECT_NEAR(n1, double(std::sqrt(s)), 1e-12 * n1);
}

TEST(Clip, NonContiguousGradientsAreReplacedNotWrittenThrough) {
  Tensor p = zeros({2, 3}).requires_grad_();
  Tensor shared = full({1, 1}, 2.0);
  p.set_grad(shared.expand({2, 3}));  // stride-0 view on another tensor's memory
  double norm = train::clip_grad_norm({p}, 1.0);
  EXPECT_NEAR(norm, std::sqrt(24.0), 1e-6);
  EXPECT_EQ(shared.item(), 2.0);
  EXPECT_NEAR(train::grad_norm({p}), 1.0, 1e-6);
}

}  // namespace
}  // namespace kiln
