// The Trainer: resume, gradient accumulation, weight-decay groups, evaluation, stopping,
// starting from trained weights (train.init).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "core/autograd/autograd.h"
#include "core/ops/loss.h"
#include "core/tensor/factory.h"
#include "core/train/checkpoint.h"
#include "core/train/init_weights.h"
#include "core/train/param_groups.h"
#include "core/train/trainer.h"
#include "tests/train/train_test_util.h"

namespace kiln::testing {
namespace {

using train::StepReport;
using train::Trainer;
using train::TrainerOptions;

class TrainerTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { load_test_plugins(); }
  void SetUp() override { null_ = std::fopen("/dev/null", "w"); }
  void TearDown() override { std::fclose(null_); }

  TrainerOptions options(const std::string& out, std::vector<double>* losses = nullptr) {
    TrainerOptions o;
    o.out = out;
    o.console = null_;
    o.interactive = false;
    o.handle_signals = false;
    o.mfu = false;
    if (losses) o.on_step = [losses](const StepReport& r) { losses->push_back(r.loss); };
    return o;
  }

  TempDir dir_;
  std::FILE* null_ = nullptr;
};

std::vector<float> flat_params(nn::Model& m) {
  std::vector<float> out;
  for (const Tensor& p : m.parameters()) {
    std::vector<float> v = p.to_vector<float>();
    out.insert(out.end(), v.begin(), v.end());
  }
  return out;
}

// Acceptance 4: 100 steps straight and 50 + resume + 50 give identical losses at every step.
// Dropout (the trainer's generator), a cosine schedule, accumulation and evaluations in between
// all have to resume exactly for this to hold.
TEST_F(TrainerTest, ResumeGivesIdenticalLossesAtEveryStep) {
  const std::string spec =
      write_spec(dir_,
                 "steps = 100, grad_accum = 2, schedule = cosine { warmup = 10 }, "
                 "eval_every = 20, checkpoint_every = 30",
                 "dropout = 0.1");
  std::vector<double> straight, resumed;
  Trainer a(load(spec), options(dir_ / "straight", &straight));
  a.run();
  ASSERT_EQ(straight.size(), 100u);

  TrainerOptions first = options(dir_ / "resumed", &resumed);
  Trainer* b_ptr = nullptr;
  first.on_step = [&](const StepReport& r) {
    resumed.push_back(r.loss);
    if (r.step == 50) b_ptr->request_stop();
  };
  {
    Trainer b(load(spec), first);
    b_ptr = &b;
    train::TrainResult r = b.run();
    EXPECT_TRUE(r.stopped);
    EXPECT_EQ(r.step, 50);
  }
  ASSERT_EQ(resumed.size(), 50u);
  ASSERT_TRUE(train::latest_checkpoint(dir_ / "resumed/checkpoints"));
  EXPECT_EQ(train::latest_checkpoint(dir_ / "resumed/checkpoints")->step, 50);

  Trainer c(load(spec), options(dir_ / "resumed", &resumed));
  EXPECT_TRUE(c.resumed());
  EXPECT_EQ(c.step(), 50);
  c.run();
  ASSERT_EQ(resumed.size(), 100u);
  for (size_t i = 0; i < 100; ++i) EXPECT_EQ(straight[i], resumed[i]) << "step " << i + 1;
  EXPECT_EQ(flat_params(a.model()), flat_params(c.model()));

  // The metrics log of the resumed run holds each step once.
  std::string log = read_file(dir_ / "resumed/metrics.jsonl");
  EXPECT_EQ(read_file(dir_ / "straight/metrics.jsonl").size() > 0, true);
  size_t lines_at_50 = 0;
  for (size_t pos = 0; (pos = log.find("{\"step\": 50,", pos)) != std::string::npos; ++pos)
    ++lines_at_50;
  EXPECT_EQ(lines_at_50, 1u) << log;
}

// Two micro-batches of 4 rows make the update one batch of 8 makes, even when the micro-batches
// hold different numbers of targets (ignore_multiple masks some): each micro-batch's mean loss
// is weighted by its tokens. f64 parameters and SGD, so the update shows the gradient itself.
TEST_F(TrainerTest, GradientAccumulationEqualsOneLargeBatch) {
  const std::string train =
      "optimizer = sgd { lr = 0.5 }, grad_clip = 0, eval_batches = 0, steps = 3";
  const std::string spec = write_spec(dir_, train, "dtype = \"f64\"", "ignore_multiple = 3");
  Trainer big(load(spec, {"train.batch=8", "train.grad_accum=1"}), options(dir_ / "big"));
  Trainer acc(load(spec, {"train.batch=4", "train.grad_accum=2"}), options(dir_ / "acc"));

  // The reference loss of the first step, computed by hand from a third copy of the run: the
  // mean cross-entropy over every target that is not -100 in the 8 rows.
  Trainer ref(load(spec, {"train.batch=8"}), options(dir_ / "ref"));
  double expected_loss = 0;
  {
    autograd::NoGrad no_grad;
    data::Batch b = ref.dataset().next(data::Split::train, 8, 16);
    nn::ForwardState st;
    Tensor logits = ref.model().forward(b.inputs, st);
    std::vector<double> lp = logits.to_vector<double>();
    std::vector<int64_t> tg = b.targets.to_vector<int64_t>();
    double sum = 0;
    int64_t n = 0;
    for (size_t i = 0; i < tg.size(); ++i) {
      if (tg[i] == -100) continue;
      const double* row = lp.data() + i * 256;
      double mx = row[0], z = 0;
      for (int v = 0; v < 256; ++v) mx = std::max(mx, row[v]);
      for (int v = 0; v < 256; ++v) z += std::exp(row[v] - mx);
      sum += mx + std::log(z) - row[tg[i]];
      ++n;
    }
    ASSERT_GT(n, 0);
    ASSERT_LT(n, int64_t(tg.size())) << "the test needs ignored targets";
    expected_loss = sum / double(n);
  }

  for (int s = 0; s < 3; ++s) {
    StepReport rb = big.train_step(), ra = acc.train_step();
    if (s == 0) {
      EXPECT_NEAR(rb.loss, expected_loss, 1e-12);
    }
    EXPECT_NEAR(ra.loss, rb.loss, 1e-12) << "step " << s;
    EXPECT_NEAR(ra.grad_norm, rb.grad_norm, 1e-10) << "step " << s;
    EXPECT_EQ(ra.tokens, rb.tokens);
  }
  std::vector<Tensor> pb = big.model().parameters(), pa = acc.model().parameters();
  ASSERT_EQ(pb.size(), pa.size());
  for (size_t i = 0; i < pb.size(); ++i) {
    std::vector<double> vb = pb[i].to_vector<double>(), va = pa[i].to_vector<double>();
    for (size_t j = 0; j < vb.size(); ++j)
      ASSERT_NEAR(va[j], vb[j], 1e-12) << "param " << i << " elem " << j;
  }
}

TEST_F(TrainerTest, WeightDecayGroupsLeaveOutNormsBiasesAndEmbeddings) {
  const std::string spec = write_spec(dir_);
  Trainer t(load(spec), options(dir_ / "run"));
  const auto named = t.model().named_parameters();
  train::DecaySplit split =
      train::split_weight_decay(named, t.options().no_decay, t.options().decay_vectors);
  std::vector<std::string> decay, none;
  for (const auto& [n, p] : split.decay) decay.push_back(n);
  for (const auto& [n, p] : split.no_decay) none.push_back(n);
  EXPECT_EQ(decay, (std::vector<std::string>{"fc.weight", "lm_head.weight"}));
  EXPECT_EQ(none, (std::vector<std::string>{"wte.weight", "wpe.weight", "norm.weight", "fc.bias"}));
  // An encoder's tables, by the same default patterns: ALBERT's E -> H projection is a matrix
  // like any other and decays; its embedding tables do not.
  const Tensor m = zeros({4, 2});
  split = train::split_weight_decay({{"embeddings.tokens.weight", m},
                                     {"embeddings.token_type.weight", m},
                                     {"embed_proj.weight", m},
                                     {"shared.weight", m},
                                     {"blocks.0.attn.rel_pos.weight", m}},
                                    t.options().no_decay, false);
  ASSERT_EQ(split.decay.size(), 1u);
  EXPECT_EQ(split.decay[0].first, "embed_proj.weight");

  // The optimizer the trainer made: the decayed group with the spec's 0.1, the rest with 0.
  ASSERT_EQ(t.optimizer().num_groups(), 2u);
  EXPECT_EQ(*t.optimizer().group(0).weight_decay, 0.1);
  EXPECT_EQ(t.optimizer().group(0).params.size(), 2u);
  EXPECT_EQ(*t.optimizer().group(1).weight_decay, 0.0);
  EXPECT_EQ(t.optimizer().group(1).params.size(), 4u);
  EXPECT_TRUE(t.optimizer().group(1).params[0].is_same(named[0].second));

  // The spec says otherwise: everything decays.
  Trainer all(load(spec, {"train.no_decay={}", "train.decay_vectors=true"}), options(dir_ / "all"));
  ASSERT_EQ(all.optimizer().num_groups(), 1u);
  EXPECT_EQ(all.optimizer().group(0).params.size(), 6u);
}

TEST_F(TrainerTest, ScheduleTotalDefaultsToStepsAndDrivesTheLearningRate) {
  const std::string spec =
      write_spec(dir_, "steps = 10, schedule = cosine { warmup = 2, min_ratio = 0.1 }");
  std::vector<double> lrs;
  TrainerOptions o = options(dir_ / "run");
  o.on_step = [&](const StepReport& r) { lrs.push_back(r.lr); };
  Trainer t(load(spec), o);
  EXPECT_EQ(t.spec().at("train").at("schedule").at("total").as_int(), 10);
  t.run();
  ASSERT_EQ(lrs.size(), 10u);
  // Warmup (t+1)/2, then min_ratio + (1 - min_ratio)(1 + cos(pi (t-2)/8))/2, times lr 1e-2.
  for (int s = 0; s < 10; ++s) {
    double m = s < 2 ? (s + 1) / 2.0 : 0.1 + 0.9 * (1 + std::cos(M_PI * (s - 2) / 8.0)) / 2;
    EXPECT_NEAR(lrs[size_t(s)], 1e-2 * m, 1e-15) << "step " << s;
  }
  // The resolved spec.json records the filled-in total.
  EXPECT_NE(read_file(dir_ / "run/spec.json").find("\"total\": 10"), std::string::npos);
}

TEST_F(TrainerTest, RunWritesSpecMetricsCheckpointsAndTokenizer) {
  const std::string spec =
      write_spec(dir_, "steps = 20, eval_every = 10, checkpoint_every = 5, keep_checkpoints = 2");
  Trainer t(load(spec), options(dir_ / "run"));
  train::TrainResult r = t.run();
  EXPECT_FALSE(r.stopped);
  EXPECT_EQ(r.step, 20);
  EXPECT_TRUE(std::isfinite(r.val_loss));
  EXPECT_TRUE(fs::exists(dir_ / "run/spec.json"));
  EXPECT_TRUE(fs::exists(dir_ / "run/test_bytes.txt"));
  std::vector<train::CheckpointRef> cks = train::list_checkpoints(dir_ / "run/checkpoints");
  ASSERT_EQ(cks.size(), 2u);  // 15 and 20 kept of 5, 10, 15, 20
  EXPECT_EQ(cks[0].step, 15);
  EXPECT_EQ(cks[1].step, 20);
  EXPECT_EQ(r.checkpoint, cks[1].path);
  for (const char* f : {"model.safetensors", "optimizer.safetensors", "state.json"})
    EXPECT_TRUE(fs::exists(cks[1].path + "/" + f)) << f;
  train::CheckpointData d = train::read_checkpoint(cks[1].path);
  EXPECT_EQ(d.state.at("step").as_int(), 20);
  EXPECT_EQ(d.state.at("data").at("train_rows").as_int(), 20 * 4);
  EXPECT_EQ(d.state.at("schedule").at("step").as_int(), 20);
  EXPECT_TRUE(d.state.at("spec").has("model"));

  // metrics.jsonl: a line at steps 1, 5, 10, 15, 20 and the val losses at 10 and 20.
  std::string log = read_file(dir_ / "run/metrics.jsonl");
  for (const char* s :
       {"{\"step\": 1, \"loss\"", "{\"step\": 5, \"loss\"", "{\"step\": 20, \"loss\"",
        "{\"step\": 10, \"val_loss\"", "{\"step\": 20, \"val_loss\""})
    EXPECT_NE(log.find(s), std::string::npos) << s << "\n" << log;
  for (const char* k : {"\"lr\"", "\"grad_norm\"", "\"tokens_per_s\"", "\"tokens\"", "\"val_ppl\""})
    EXPECT_NE(log.find(k), std::string::npos) << k;
}

TEST_F(TrainerTest, EvaluationRepeatsTheSameBatchesAndChangesNothing) {
  const std::string spec = write_spec(dir_, "", "dropout = 0.2");
  Trainer t(load(spec), options(dir_ / "run"));
  t.train_step();
  const std::vector<float> before = flat_params(t.model());
  const std::string state = t.dataset().state().to_json(false);
  const double v1 = t.evaluate(3), v2 = t.evaluate(3);
  EXPECT_EQ(v1, v2);
  EXPECT_TRUE(std::isfinite(v1));
  EXPECT_EQ(t.dataset().state().to_json(false), state);
  EXPECT_EQ(flat_params(t.model()), before);
  EXPECT_TRUE(t.model().is_training());
}

TEST_F(TrainerTest, Bf16AutocastTrainsCloseToF32) {
  const std::string spec = write_spec(dir_, "steps = 30, eval_batches = 0");
  std::vector<double> f32, bf16;
  Trainer a(load(spec), options(dir_ / "f32", &f32));
  a.run();
  Trainer b(load(spec, {"train.precision=bf16"}), options(dir_ / "bf16", &bf16));
  EXPECT_EQ(b.options().precision, DType::bf16);
  b.run();
  ASSERT_EQ(f32.size(), bf16.size());
  // The same start: bf16 rounds the products (relative 2^-8), so the losses agree to ~1%.
  EXPECT_NEAR(bf16[0], f32[0], 0.02 * f32[0]);
  EXPECT_NE(bf16[0], f32[0]);  // and autocast did take effect
  EXPECT_LT(bf16.back(), bf16.front());
  // Master weights stay f32.
  for (const Tensor& p : b.model().parameters()) EXPECT_EQ(p.dtype(), DType::f32);
}

TEST_F(TrainerTest, RequestStopSavesACheckpointAtThatStep) {
  const std::string spec = write_spec(dir_, "steps = 1000");
  TrainerOptions o = options(dir_ / "run");
  Trainer* tp = nullptr;
  o.on_step = [&](const StepReport& r) {
    if (r.step == 7) tp->request_stop();
  };
  Trainer t(load(spec), o);
  tp = &t;
  train::TrainResult r = t.run();
  EXPECT_TRUE(r.stopped);
  EXPECT_EQ(r.signal, 0);
  EXPECT_EQ(r.step, 7);
  ASSERT_TRUE(train::latest_checkpoint(dir_ / "run/checkpoints"));
  EXPECT_EQ(train::latest_checkpoint(dir_ / "run/checkpoints")->step, 7);
}

// train.init: a run starts from another run's (or a checkpoint's) weights, by name, or into the
// model a wrapper (scalar_head, value_head) holds under "model.", its head kept fresh.
std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

TEST_F(TrainerTest, InitStartsFromAnotherRunsLatestCheckpoint) {
  Trainer first(load(write_spec(dir_, "steps = 5")), options(dir_ / "first"));
  first.run();
  const nn::StateDict trained = first.model().state_dict();

  // Its run directory and its checkpoint's directory both name the same weights.
  const std::string checkpoint = train::latest_checkpoint(dir_ / "first/checkpoints")->path;
  for (const std::string& ref : {dir_ / "first", checkpoint}) {
    Trainer second(load(write_spec(dir_, "steps = 5, init = \"" + ref + "\"")),
                   options(dir_ / "second"));
    const nn::StateDict start = second.model().state_dict();
    ASSERT_EQ(start.size(), trained.size());
    for (const auto& [name, t] : trained) EXPECT_EQ(values(start.at(name)), values(t)) << name;
  }
}

TEST_F(TrainerTest, InitOfAnotherShapeFailsAtTheField) {
  Trainer first(load(write_spec(dir_, "steps = 2")), options(dir_ / "first"));
  first.run();
  const std::string spec = write_spec(dir_, "init = \"" + dir_ / "first" + "\"", "d_model = 16");
  try {
    Trainer t(load(spec), options(dir_ / "second"));
    FAIL() << "no error";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_NE(m.find("train.init"), std::string::npos) << m;
    EXPECT_NE(m.find("spec.lua"), std::string::npos) << m;
    EXPECT_NE(m.find("do not fit the spec's model"), std::string::npos) << m;
    EXPECT_NE(m.find("shape"), std::string::npos) << m;
  }
  try {
    Trainer t(load(write_spec(dir_, "init = \"" + dir_ / "nowhere" + "\"")),
              options(dir_ / "third"));
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is not a directory"), std::string::npos) << e.what();
  }
}

// A module with two parameters, and a wrapper holding it as "model" with a head of its own.
class Inner : public nn::Module {
 public:
  Inner() {
    register_parameter("w", zeros({2, 3}));
    register_parameter("b", zeros({3}));
  }
};
class Wrapper : public nn::Module {
 public:
  Wrapper() {
    register_module("model", std::make_shared<Inner>());
    register_parameter("score", full({1, 3}, 7.0));
  }
};

TEST(TrainInit, AWrapperTakesThemIntoItsModelAndKeepsItsHead) {
  nn::StateDict weights{{"w", full({2, 3}, 1.5)}, {"b", full({3}, -2.0)}};
  Wrapper wrapper;
  train::InitReport r = train::load_init_weights(wrapper, weights);
  EXPECT_EQ(r.loaded, 2);
  EXPECT_EQ(r.prefix, "model.");
  EXPECT_EQ(r.fresh, std::vector<std::string>{"score"});
  const nn::StateDict s = wrapper.state_dict();
  EXPECT_EQ(values(s.at("model.w")), std::vector<float>(6, 1.5f));
  EXPECT_EQ(values(s.at("model.b")), std::vector<float>(3, -2.0f));
  EXPECT_EQ(values(s.at("score")), std::vector<float>(3, 7.0f));

  // By name into the same kind of module: nothing fresh.
  Inner inner;
  r = train::load_init_weights(inner, weights);
  EXPECT_EQ(r.prefix, "");
  EXPECT_TRUE(r.fresh.empty());

  // A tensor the module lacks is an error, and nothing is loaded.
  weights.emplace("extra", zeros({1}));
  Inner untouched;
  EXPECT_THROW(train::load_init_weights(untouched, weights), Error);
  EXPECT_EQ(values(untouched.state_dict().at("w")), std::vector<float>(6, 0.0f));
}

}  // namespace
}  // namespace kiln::testing
