// The post-training objectives (sft, reward_model, dpo with its variants, orpo) on a tiny
// causal LM: closed-form losses, gradients against finite differences in f64, the prompt never
// scored, packed examples kept apart, and a synthetic preference task learned.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>

#include "core/autograd/autograd.h"
#include "core/data/reference_logps.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "plugins/datasets/preference.h"
#include "plugins/datasets/preference_dataset.h"
#include "plugins/objectives/dpo.h"
#include "plugins/objectives/orpo.h"
#include "plugins/objectives/reward_model.h"
#include "plugins/objectives/sft.h"
#include "tests/core/test_util.h"
#include "tests/plugins/objectives/fakes.h"
#include "tests/plugins/objectives/tiny_lm.h"

namespace kiln::objectives {
namespace {

using datasets::Example;
using testing::TinyLM;

constexpr int64_t kVocab = 9;  // 0: EOS and padding, 1: the marker, 2..8: ordinary tokens

Example example(std::vector<int32_t> prompt, std::vector<int32_t> response) {
  Example e;
  e.tokens = prompt;
  e.prompt_len = int64_t(prompt.size());
  e.tokens.insert(e.tokens.end(), response.begin(), response.end());
  e.tokens.push_back(0);
  return e;
}

// Two pairs of different lengths (padding and prompt masks both matter).
data::Batch two_pairs() {
  Example c0 = example({2, 3, 4}, {5, 6}), r0 = example({2, 3, 4}, {7});
  Example c1 = example({8, 2}, {3, 1, 1}), r1 = example({8, 2}, {4, 5, 6, 7});
  return datasets::collate_pairs({&c0, &c1}, {&r0, &r1}, 16, 0);
}

// Adds normal noise to every parameter in place (the policy moves away from its reference).
void jitter(nn::Model& m, uint64_t seed, double std = 0.3) {
  autograd::NoGrad no_grad;
  Generator g(seed);
  for (auto& [name, p] : m.named_parameters()) {
    Tensor n = randn(p.shape(), p.dtype(), &g, 0.0, std);
    const int64_t k = p.numel();
    double* d = p.data<double>();
    const double* s = n.data<double>();
    for (int64_t i = 0; i < k; ++i) d[i] += s[i];
  }
}

// gradcheck over the model's parameters of an objective's loss.
::testing::AssertionResult loss_gradcheck(nn::Model& model, train::Objective& obj,
                                          const data::Batch& batch) {
  std::vector<Tensor> params = model.parameters();
  kiln::testing::GradcheckOptions o;
  o.max_per_input = 6;
  o.atol = 1e-6;
  o.rtol = 1e-4;
  return kiln::testing::gradcheck(
      [&](const std::vector<Tensor>&) {
        nn::ForwardState state;
        return obj.compute(model, batch, state).loss;
      },
      params, o);
}

// The row's summed response log-prob by plain loops over the logits (independent of the ops).
std::vector<double> plain_logps(nn::Model& model, const data::Batch& b, bool average) {
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  Tensor logits = model.forward(b.inputs, state).to(DType::f64).contiguous();
  const int64_t B = logits.size(0), T = logits.size(1), V = logits.size(2);
  const std::vector<double> l = logits.to_vector<double>();
  const std::vector<int64_t> tg = b.targets.to_vector<int64_t>();
  std::vector<double> out(size_t(B), 0.0);
  for (int64_t i = 0; i < B; ++i) {
    int64_t n = 0;
    for (int64_t t = 0; t < T; ++t) {
      const int64_t y = tg[size_t(i * T + t)];
      if (y == -100) continue;
      const double* row = &l[size_t((i * T + t) * V)];
      double mx = row[0], z = 0;
      for (int64_t v = 1; v < V; ++v) mx = std::max(mx, row[v]);
      for (int64_t v = 0; v < V; ++v) z += std::exp(row[v] - mx);
      out[size_t(i)] += row[y] - mx - std::log(z);
      ++n;
    }
    if (average) out[size_t(i)] /= double(n);
  }
  return out;
}

double log_sigmoid(double x) {
  return -std::log1p(std::exp(-x));
}

// ---- dpo ------------------------------------------------------------------------------------

TEST(DpoObjective, LossAtStepZeroIsExactlyLog2) {
  TinyLM model(kVocab, 8, kVocab, 1);
  for (double eps : {0.0, 0.2}) {
    DpoOptions o;
    o.label_smoothing = eps;
    Dpo dpo(o);
    dpo.prepare({nullptr, &model, 0});
    nn::ForwardState state;
    train::LossOutput out = dpo.compute(model, two_pairs(), state);
    EXPECT_EQ(out.loss.item(), std::log(2.0)) << "label smoothing " << eps;
    EXPECT_EQ(out.metrics.at("rewards/chosen"), 0.0);
    EXPECT_EQ(out.metrics.at("rewards/margins"), 0.0);
    EXPECT_EQ(out.metrics.at("rewards/accuracies"), 0.0);
    EXPECT_LT(out.metrics.at("logps/chosen"), 0.0);
    EXPECT_EQ(out.tokens, 2);
  }
}

TEST(DpoObjective, LossAndRewardsMatchTheirFormulas) {
  TinyLM model(kVocab, 8, kVocab, 2);
  const data::Batch b = two_pairs();
  for (DpoLoss loss : {DpoLoss::sigmoid, DpoLoss::ipo}) {
    DpoOptions o;
    o.beta = 0.5;
    o.loss = loss;
    o.label_smoothing = loss == DpoLoss::sigmoid ? 0.1 : 0.0;
    Dpo dpo(o);
    dpo.prepare({nullptr, &model, 0});
    const bool avg = loss == DpoLoss::ipo;
    const std::vector<double> ref = plain_logps(model, b, avg);
    jitter(model, 7);
    const std::vector<double> pol = plain_logps(model, b, avg);
    double expect = 0, margins = 0;
    for (int i = 0; i < 2; ++i) {
      const double h = (pol[i] - ref[i]) - (pol[2 + i] - ref[2 + i]);
      expect += loss == DpoLoss::ipo
                    ? (h - 1 / (2 * o.beta)) * (h - 1 / (2 * o.beta))
                    : -log_sigmoid(o.beta * h) * 0.9 - log_sigmoid(-o.beta * h) * 0.1;
      margins += o.beta * h;
    }
    nn::ForwardState state;
    train::LossOutput out = dpo.compute(model, b, state);
    EXPECT_NEAR(out.loss.item(), expect / 2, 1e-10);
    EXPECT_NEAR(out.metrics.at("rewards/margins"), margins / 2, 1e-10);
    EXPECT_NEAR(out.metrics.at("logps/rejected"), (pol[2] + pol[3]) / 2, 1e-10);
  }
}

// The reference's log-probs are stored in the batch (computed once from the starting policy),
// so that each of gradcheck's evaluations runs one forward.
void dpo_gradcheck(DpoOptions o) {
  TinyLM model(kVocab, 6, kVocab, 3);
  Dpo dpo(o);
  dpo.prepare({nullptr, &model, 0});
  data::Batch b = two_pairs();
  b.reference_logps = dpo.reference_logps(model, b);
  jitter(model, 11);
  EXPECT_TRUE(loss_gradcheck(model, dpo, b));
}

TEST(DpoObjective, GradientsMatchFiniteDifferences) {
  DpoOptions o;
  o.beta = 0.7;
  dpo_gradcheck(o);
}

TEST(DpoObjective, LabelSmoothedGradientsMatchFiniteDifferences) {
  DpoOptions o;
  o.beta = 0.7;
  o.label_smoothing = 0.25;
  dpo_gradcheck(o);
}

TEST(DpoObjective, IpoGradientsMatchFiniteDifferences) {
  DpoOptions o;
  o.beta = 0.7;
  o.loss = DpoLoss::ipo;
  dpo_gradcheck(o);
}

TEST(DpoObjective, StoredReferenceLogpsGiveTheSameLossAsTheReferenceModel) {
  TinyLM model(kVocab, 8, kVocab, 4);
  Dpo dpo;
  dpo.prepare({nullptr, &model, 0});
  data::Batch b = two_pairs();
  Tensor stored = dpo.reference_logps(model, b);  // computed once, as a run stores it
  jitter(model, 5);
  nn::ForwardState s1, s2;
  const double in_memory = dpo.compute(model, b, s1).loss.item();
  b.reference_logps = stored;
  Dpo without_model;  // never prepared: it can only read the stored log-probs
  EXPECT_EQ(without_model.compute(model, b, s2).loss.item(), in_memory);
}

TEST(DpoObjective, NeedsPairsAndAReference) {
  TinyLM model(kVocab, 4, kVocab, 1);
  data::Batch b = two_pairs();
  Dpo dpo;
  nn::ForwardState s;
  try {
    dpo.compute(model, b, s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no reference"), std::string::npos) << e.what();
  }
  b.pairs = 0;
  try {
    dpo.compute(model, b, s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no preference pairs"), std::string::npos) << e.what();
  }
}

// Acceptance: a run with the reference log-probs computed once and stored on disk gives the
// same losses as one with the reference model in memory.
TEST(DpoObjective, ARunWithStoredReferenceLogpsMatchesOneWithTheReferenceModel) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("kiln_dpo_ref_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  {
    std::ofstream f(dir / "pairs.jsonl");
    for (int i = 0; i < 12; ++i)
      f << "{\"prompt\": \"q" << i << "?\", \"chosen\": \"yes" << (i % 3)
        << "\", \"rejected\": \"no" << std::string(size_t(i % 4), '!') << "\"}\n";
  }
  auto make = [&](const std::string& ref) {
    datasets::PostTrainOptions o;
    o.paths = {(dir / "pairs.jsonl").string()};
    o.val_fraction = 0.25;
    o.reference_logps = ref;
    auto d = std::make_shared<datasets::PostTrainDataset>(o, std::make_shared<testing::ByteIds>(2));
    data::PrepareOptions po;
    po.seed = 5;
    po.progress = false;
    d->prepare(po);
    return d;
  };
  const int64_t seq_len = 12;  // short enough that some rows are truncated
  // Write the starting policy's log-probs of every pair, train then val.
  {
    auto d = make("");
    TinyLM model(258, 8, 258, 21);
    Dpo dpo;
    dpo.prepare({nullptr, &model, 0});
    std::vector<double> c, r;
    for (data::Split s : {data::Split::train, data::Split::val}) {
      const size_t n = d->examples(s);
      std::vector<double> v =
          dpo.reference_logps(model, d->examples_in_order(s, 0, n, seq_len)).to_vector<double>();
      c.insert(c.end(), v.begin(), v.begin() + int64_t(n));
      r.insert(r.end(), v.begin() + int64_t(n), v.end());
    }
    data::write_reference_logps((dir / "ref.jsonl").string(), c, r);
  }
  // The same three SGD steps, with the reference in memory and from the file.
  auto run = [&](bool stored) {
    auto d = make(stored ? (dir / "ref.jsonl").string() : "");
    TinyLM model(258, 8, 258, 21);
    DpoOptions o;
    o.reference_model = !stored;
    Dpo dpo(o);
    dpo.prepare({nullptr, &model, 0});
    std::vector<double> losses;
    for (int step = 0; step < 3; ++step) {
      data::Batch b = d->next(data::Split::train, 3, seq_len);
      EXPECT_EQ(b.reference_logps.defined(), stored);
      nn::ForwardState s;
      Tensor loss = dpo.compute(model, b, s).loss;
      losses.push_back(loss.item());
      loss.backward();
      autograd::NoGrad no_grad;
      for (Tensor& p : model.parameters()) {
        if (!p.grad().defined()) continue;
        double* w = p.data<double>();
        const std::vector<double> g = p.grad().to_vector<double>();
        for (size_t i = 0; i < g.size(); ++i) w[i] -= 0.5 * g[i];
        p.set_grad(Tensor());
      }
    }
    return losses;
  };
  const std::vector<double> in_memory = run(false), from_disk = run(true);
  ASSERT_EQ(in_memory.size(), from_disk.size());
  // Every pair's loss is exactly log 2; their mean over 3 pairs may round by an ulp.
  EXPECT_NEAR(in_memory[0], std::log(2.0), 1e-15);
  for (size_t i = 0; i < in_memory.size(); ++i)
    EXPECT_NEAR(from_disk[i], in_memory[i], 1e-13) << "step " << i;
  EXPECT_NE(in_memory[2], in_memory[0]);  // the steps did move the policy
  fs::remove_all(dir);
}

// ---- orpo -----------------------------------------------------------------------------------

TEST(OrpoObjective, LossMatchesItsFormula) {
  TinyLM model(kVocab, 8, kVocab, 6);
  const data::Batch b = two_pairs();
  const std::vector<double> avg = plain_logps(model, b, true), sum = plain_logps(model, b, false);
  const double lambda = 0.3;
  // NLL: mean over the chosen responses' tokens (3 + 4 of them, EOS included).
  const double nll = -(sum[0] + sum[1]) / 7.0;
  double ratio = 0;
  for (int i = 0; i < 2; ++i) {
    const double lo =
        (avg[i] - avg[2 + i]) - (std::log1p(-std::exp(avg[i])) - std::log1p(-std::exp(avg[2 + i])));
    ratio += log_sigmoid(lo);
  }
  Orpo orpo(lambda);
  nn::ForwardState s;
  train::LossOutput out = orpo.compute(model, b, s);
  EXPECT_NEAR(out.loss.item(), nll - lambda * ratio / 2, 1e-10);
  EXPECT_NEAR(out.metrics.at("nll_loss"), nll, 1e-10);
}

TEST(OrpoObjective, GradientsMatchFiniteDifferences) {
  TinyLM model(kVocab, 6, kVocab, 8);
  Orpo orpo(0.5);
  EXPECT_TRUE(loss_gradcheck(model, orpo, two_pairs()));
}

// ---- reward_model ---------------------------------------------------------------------------

TEST(RewardModelObjective, ReadsTheLastResponseToken) {
  const data::Batch b = two_pairs();
  // Rows: prompt 3 + response 2 + EOS = 6 tokens: EOS at 5; 3 + 1 + 1: at 4; 2 + 3 + 1: at 5;
  // 2 + 4 + 1: at 6.
  EXPECT_EQ(last_response_positions(b.targets), (std::vector<int64_t>{5, 5, 4, 6}));
}

TEST(RewardModelObjective, BradleyTerryLossAndItsGradients) {
  TinyLM model(kVocab, 6, 1, 9);
  const data::Batch b = two_pairs();
  RewardModelObjective rm;
  nn::ForwardState s;
  Tensor r = RewardModelObjective::rewards(model, b, s).to(DType::f64);
  const std::vector<double> rv = r.to_vector<double>();
  const double expect = -(log_sigmoid(rv[0] - rv[2]) + log_sigmoid(rv[1] - rv[3])) / 2;
  nn::ForwardState s2;
  train::LossOutput out = rm.compute(model, b, s2);
  EXPECT_NEAR(out.loss.item(), expect, 1e-12);
  EXPECT_EQ(out.metrics.at("accuracy"), ((rv[0] > rv[2]) + (rv[1] > rv[3])) / 2.0);
  EXPECT_TRUE(loss_gradcheck(model, rm, b));
}

TEST(RewardModelObjective, NeedsAScalarHead) {
  TinyLM model(kVocab, 4, kVocab, 1);
  RewardModelObjective rm;
  nn::ForwardState s;
  try {
    rm.compute(model, two_pairs(), s);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("scalar_head"), std::string::npos) << e.what();
  }
}

// ---- sft ------------------------------------------------------------------------------------

// A model whose logits are a fixed leaf: what each position predicts is given directly.
class FixedLogits final : public nn::Model {
 public:
  explicit FixedLogits(Tensor logits) : logits_(register_parameter("logits", logits)) {}
  Tensor forward(const Tensor&, nn::ForwardState&) override { return logits_; }
  int64_t vocab_size() const override { return logits_.size(2); }
  int64_t context_length() const override { return logits_.size(1); }
  double train_flops_per_token(int64_t) const override { return 0; }
  nn::Parameter logits_;
};

TEST(SftObjective, PromptTokensAreNeitherScoredNorDifferentiated) {
  // One example, prompt of 4 tokens: the predictions made at prompt positions (what a label
  // of a prompt token would score) carry no loss and get no gradient.
  const Example e = example({2, 3, 4, 5}, {6, 7});
  size_t used = 0;
  data::Batch b = datasets::pack_examples({&e}, 1, 8, 0, false, &used);
  const std::vector<int64_t> tg = b.targets.to_vector<int64_t>();
  EXPECT_EQ(tg, (std::vector<int64_t>{-100, -100, -100, 6, 7, 0, -100, -100}));
  auto run = [&](uint64_t seed) {
    FixedLogits m(kiln::testing::randn64({1, 8, kVocab}, 3));
    {  // different predictions at every prompt position (0, 1, 2), the rest the same
      Tensor other = kiln::testing::randn64({1, 8, kVocab}, seed);
      double* d = m.logits_.data<double>();
      const double* o = other.data<double>();
      for (int64_t i = 0; i < 3 * kVocab; ++i) d[i] = o[i];
    }
    Sft sft;
    nn::ForwardState s;
    train::LossOutput out = sft.compute(m, b, s);
    out.loss.backward();
    return std::make_tuple(out.loss.item(), m.logits_.grad().narrow(1, 3, 5).contiguous(),
                           m.logits_.grad().narrow(1, 0, 3).contiguous(), out.tokens);
  };
  auto [l1, g1, p1, n1] = run(10);
  auto [l2, g2, p2, n2] = run(20);
  EXPECT_EQ(l1, l2);
  EXPECT_EQ(n1, 3);
  EXPECT_TRUE(kiln::testing::all_close(g1, g2, 0, 0));
  EXPECT_TRUE(kiln::testing::all_close(p1, zeros_like(p1), 0, 0));
}

TEST(SftObjective, PackedExamplesDoNotAttendToEachOther) {
  TinyLM model(kVocab, 8, kVocab, 12);
  const Example a = example({2, 3}, {4, 5}), b = example({6}, {7, 8, 2});
  size_t used = 0;
  data::Batch packed = datasets::pack_examples({&a, &b}, 1, 12, 0, true, &used);
  ASSERT_EQ(used, 2u);
  EXPECT_EQ(packed.segment_ids.to_vector<int64_t>(),
            (std::vector<int64_t>{1, 1, 1, 1, 1, 2, 2, 2, 2, 2, 0, 0}));
  EXPECT_EQ(packed.positions.to_vector<int64_t>(),
            (std::vector<int64_t>{0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 0}));
  // The second example's logits in the packed row equal its logits alone.
  nn::ForwardState s;
  s.positions = packed.positions;
  s.segment_ids = packed.segment_ids;
  Tensor lp = model.forward(packed.inputs, s).narrow(1, 5, 5).contiguous();
  data::Batch alone = datasets::pack_examples({&b}, 1, 5, 0, false, &used);
  nn::ForwardState s2;
  Tensor la = model.forward(alone.inputs, s2);
  EXPECT_TRUE(kiln::testing::all_close(lp, la, 1e-12, 1e-12));
  // And the packed loss is the token-weighted mean of the two alone.
  Sft sft;
  data::Batch only_a = datasets::pack_examples({&a}, 1, 5, 0, false, &used);
  nn::ForwardState s3, s4, s5;
  train::LossOutput oa = sft.compute(model, only_a, s3), ob = sft.compute(model, alone, s4),
                    op = sft.compute(model, packed, s5);
  EXPECT_EQ(op.tokens, oa.tokens + ob.tokens);
  EXPECT_NEAR(op.loss.item(), (oa.loss.item() * oa.tokens + ob.loss.item() * ob.tokens) / op.tokens,
              1e-12);
}

// ---- a synthetic preference task ----------------------------------------------------------

// Prompts of 3 ordinary tokens; chosen responses are 2 ordinary tokens then the marker twice,
// rejected ones 4 ordinary tokens (no marker).
struct Task {
  std::vector<Example> chosen, rejected;
};
Task make_task(int64_t n, uint64_t seed) {
  Task t;
  uint64_t s = seed;
  auto draw = [&] {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    return int32_t(2 + (s >> 33) % 7);
  };
  for (int64_t i = 0; i < n; ++i) {
    std::vector<int32_t> p = {draw(), draw(), draw()};
    t.chosen.push_back(example(p, {draw(), draw(), 1, 1}));
    t.rejected.push_back(example(p, {draw(), draw(), draw(), draw()}));
  }
  return t;
}
data::Batch task_batch(const Task& t, int64_t from, int64_t n) {
  std::vector<const Example*> c, r;
  for (int64_t i = 0; i < n; ++i) {
    c.push_back(&t.chosen[size_t((from + i) % int64_t(t.chosen.size()))]);
    r.push_back(&t.rejected[size_t((from + i) % int64_t(t.rejected.size()))]);
  }
  return datasets::collate_pairs(c, r, 16, 0);
}

// Adam (Kingma & Ba) on f32 parameters, written out: the test needs no optimizer plugin.
struct Adam {
  explicit Adam(std::vector<Tensor> p, double lr) : params(std::move(p)), lr(lr) {
    for (const Tensor& t : params)
      m.emplace_back(size_t(t.numel()), 0.f), v.emplace_back(size_t(t.numel()), 0.f);
  }
  void step() {
    ++t;
    autograd::NoGrad no_grad;
    for (size_t k = 0; k < params.size(); ++k) {
      Tensor g = params[k].grad();
      if (!g.defined()) continue;
      g = g.contiguous();
      float* p = params[k].data<float>();
      const float* gd = g.data<float>();
      for (int64_t i = 0; i < params[k].numel(); ++i) {
        m[k][i] = 0.9f * m[k][i] + 0.1f * gd[i];
        v[k][i] = 0.999f * v[k][i] + 0.001f * gd[i] * gd[i];
        const double mh = m[k][i] / (1 - std::pow(0.9, t)), vh = v[k][i] / (1 - std::pow(0.999, t));
        p[i] -= float(lr * mh / (std::sqrt(vh) + 1e-8));
      }
      params[k].set_grad(Tensor());
    }
  }
  std::vector<Tensor> params;
  double lr;
  int t = 0;
  std::vector<std::vector<float>> m, v;
};

// Held-out preference accuracy (ties count half): the fraction of pairs whose chosen response
// scores above the rejected one.
double accuracy(const std::function<std::vector<double>(const data::Batch&)>& score,
                const data::Batch& held_out) {
  const std::vector<double> s = score(held_out);
  const size_t P = s.size() / 2;
  double acc = 0;
  for (size_t i = 0; i < P; ++i) acc += s[i] > s[P + i] ? 1.0 : s[i] == s[P + i] ? 0.5 : 0.0;
  return acc / double(P);
}

TEST(DpoObjective, LearnsASyntheticPreferenceTask) {
  const Task train = make_task(256, 1), test = make_task(64, 2);
  const data::Batch held_out = task_batch(test, 0, 64);
  TinyLM model(kVocab, 16, kVocab, 13, DType::f32, 0.1);
  Dpo dpo;
  dpo.prepare({nullptr, &model, 0});
  // The implicit reward beta (log pi - log ref) of each row.
  auto score = [&](const data::Batch& b) {
    autograd::NoGrad no_grad;
    nn::ForwardState s;
    Tensor pol = sequence_logps(policy_logits(model, b, s, "test"), b.targets).sum;
    Tensor ref = dpo.reference_logps(model, b);
    return ops::sub(pol, ref).to(DType::f64).to_vector<double>();
  };
  const double before = accuracy(score, held_out);
  EXPECT_NEAR(before, 0.5, 0.1);
  Adam adam(model.parameters(), 1e-2);
  for (int step = 0; step < 40; ++step) {
    nn::ForwardState s;
    dpo.compute(model, task_batch(train, step * 16, 16), s).loss.backward();
    adam.step();
  }
  const double after = accuracy(score, held_out);
  std::printf("dpo: held-out preference accuracy %.3f -> %.3f in 40 steps\n", before, after);
  EXPECT_GE(after, 0.8) << "before: " << before;
}

TEST(RewardModelObjective, LearnsASyntheticPreferenceTask) {
  const Task train = make_task(256, 3), test = make_task(64, 4);
  const data::Batch held_out = task_batch(test, 0, 64);
  TinyLM model(kVocab, 16, 1, 14, DType::f32, 0.1);
  RewardModelObjective rm;
  auto score = [&](const data::Batch& b) {
    autograd::NoGrad no_grad;
    nn::ForwardState s;
    return RewardModelObjective::rewards(model, b, s).to(DType::f64).to_vector<double>();
  };
  // The held-out Bradley-Terry loss: the untrained head's rewards are near 0, so about log 2,
  // whichever way they happen to order the pairs (the marker sits at the last token, so a random
  // head may order most pairs already: the accuracy alone would prove nothing).
  auto held_out_loss = [&] {
    autograd::NoGrad no_grad;
    nn::ForwardState s;
    return rm.compute(model, held_out, s).loss.item();
  };
  const double before = accuracy(score, held_out), loss_before = held_out_loss();
  Adam adam(model.parameters(), 1e-2);
  for (int step = 0; step < 40; ++step) {
    nn::ForwardState s;
    rm.compute(model, task_batch(train, step * 16, 16), s).loss.backward();
    adam.step();
  }
  const double after = accuracy(score, held_out), loss_after = held_out_loss();
  std::printf("reward_model: held-out accuracy %.3f -> %.3f, loss %.4f -> %.4f in 40 steps\n",
              before, after, loss_before, loss_after);
  EXPECT_GT(loss_before, 0.6);
  EXPECT_LT(loss_after, 0.2);
  EXPECT_GE(after, 0.8) << "before: " << before;
}

}  // namespace
}  // namespace kiln::objectives
