// The whole-model reference test, as llm.c's test_gpt2: tiny GPT-2, LLaMA, BERT and T5 models
// built through the real components (models/*.lua, the layers plugin's decoder, encoder and
// encoder_decoder, the causal_lm, mlm and seq2seq objectives, adamw, the Trainer) from the
// weights of a fixture, checked against PyTorch's logits, loss, every parameter's gradient and
// the losses of 10 AdamW steps (computed by reference.py in f64 from models written from the
// papers; see README.md here).
//
// Tolerance: kiln computes in f32, so each value must be within 1e-4 of the reference relative
// to its own magnitude, |kiln - torch| <= 1e-4 * max(|torch|, floor). The floor keeps entries
// near zero (a gradient that nearly cancels, a logit near 0) from demanding an accuracy that
// f32 cannot give them: it is 1e-2 of the tensor's largest magnitude, so a near-zero entry is
// held to 1e-6 of the tensor's scale, a few f32 ulps of the large entries it is summed from.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "core/autograd/autograd.h"
#include "core/nn/model.h"
#include "core/tensor/factory.h"
#include "core/train/objective.h"
#include "core/train/param_groups.h"
#include "core/train/trainer.h"
#include "tests/reference/reference_case.h"

namespace kiln::reference {
namespace {

namespace fs = std::filesystem;

constexpr double kRtol = 1e-4;
constexpr double kFloorFraction = 1e-2;

struct Comparison {
  double max_rel = 0;    // max |a - e| / max(|e|, floor)
  int64_t worst = -1;    // its index
  int64_t failures = 0;  // entries beyond kRtol
  double actual = 0, expected = 0;
};

Comparison compare(const Tensor& actual, const Tensor& expected) {
  std::vector<double> a = actual.to(DType::f64).contiguous().to_vector<double>();
  std::vector<double> e = expected.to(DType::f64).contiguous().to_vector<double>();
  double scale = 0;
  for (double v : e) scale = std::max(scale, std::abs(v));
  const double floor = std::max(kFloorFraction * scale, 1e-30);
  Comparison c;
  for (size_t i = 0; i < e.size(); ++i) {
    const double rel = std::abs(a[i] - e[i]) / std::max(std::abs(e[i]), floor);
    if (!(rel <= kRtol)) ++c.failures;
    if (!(rel <= c.max_rel)) {  // NaN counts as worst
      c.max_rel = rel;
      c.worst = int64_t(i);
      c.actual = a[i];
      c.expected = e[i];
    }
  }
  return c;
}

class Reference : public ::testing::TestWithParam<std::string> {
 protected:
  static void SetUpTestSuite() { load_components(); }

  void SetUp() override {
    name_ = GetParam();
    const std::string fixtures = KILN_REFERENCE_FIXTURES;
    inputs_ = safetensors::read(inputs_path(fixtures, name_));
    expected_ = safetensors::read(expected_path(fixtures, name_));
    out_ =
        fs::temp_directory_path() / ("kiln_reference_" + std::to_string(::getpid()) + "_" + name_);
    fs::remove_all(out_);
    train::TrainerOptions o;
    o.out = out_.string();
    o.mfu = false;
    o.handle_signals = false;
    trainer_ =
        std::make_unique<train::Trainer>(load_case_spec(name_, inputs_path(fixtures, name_)), o);
    // The fixture's weights (kiln's own initialisation when the fixture was written; loading
    // them keeps the test independent of later changes to the initialisation).
    nn::StateDict weights;
    for (const auto& [n, t] : inputs_.tensors)
      if (n != kInputsKey && n != kTargetsKey) weights[n] = t;
    trainer_->model().load_state_dict(weights, /*strict=*/true);
    batch_.inputs = inputs_.tensors.at(kInputsKey);
    batch_.targets = inputs_.tensors.at(kTargetsKey);
  }

  void TearDown() override {
    for (const auto& [what, rel] : worst_)
      std::printf("[ reference ] %s %s: max relative error %.3g\n", name_.c_str(), what.c_str(),
                  rel);
    trainer_.reset();
    fs::remove_all(out_);
  }

  const Tensor& expected(const std::string& key) const {
    auto it = expected_.tensors.find(key);
    if (it == expected_.tensors.end())
      throw Error(expected_path(KILN_REFERENCE_FIXTURES, name_) + ": no tensor '" + key + "'");
    return it->second;
  }

  /// The objective of the resolved spec, made and prepared as the Trainer does it (the
  /// reference batch has no tokenizer).
  std::shared_ptr<train::Objective> objective() const {
    auto o =
        Registry::global().create<train::Objective>(trainer_->spec().at("train").at("objective"));
    o->prepare({nullptr, &trainer_->model(), uint64_t(trainer_->spec().get<int64_t>("seed"))});
    return o;
  }

  /// Checks `actual` against `expected` entry by entry and records the worst relative error.
  void check(const std::string& what, const Tensor& actual, const Tensor& want) {
    ASSERT_EQ(actual.shape(), want.shape()) << what;
    const Comparison c = compare(actual, want);
    EXPECT_EQ(c.failures, 0) << what << ": " << c.failures << " entries beyond " << kRtol
                             << " relative; worst at flat index " << c.worst << ": kiln "
                             << c.actual << ", torch " << c.expected << " (relative error "
                             << c.max_rel << ")";
    worst_[what] = std::max(worst_[what], c.max_rel);
  }

  std::string name_;
  safetensors::File inputs_, expected_;
  fs::path out_;
  std::unique_ptr<train::Trainer> trainer_;
  data::Batch batch_;
  std::map<std::string, double> worst_;
};

// Decoders: the logits of the inputs. Encoders: the MLM head's logits at every position.
// Encoder-decoders: the decoder's logits of the targets shifted right behind the start token
// (-100 read as the start token, which is T5's pad), reading the encoder's states of the inputs.
TEST_P(Reference, Logits) {
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  Tensor logits;
  if (auto* s2s = dynamic_cast<nn::Seq2SeqModel*>(&trainer_->model())) {
    const std::vector<int64_t> targets = batch_.targets.to_vector<int64_t>();
    const int64_t B = batch_.targets.size(0), T = batch_.targets.size(1);
    const int64_t start = s2s->decoder_start_token();
    std::vector<int64_t> shifted(targets.size(), start);
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 1; t < T; ++t) {
        const int64_t prev = targets[size_t(b * T + t - 1)];
        shifted[size_t(b * T + t)] = prev == -100 ? start : prev;
      }
    nn::ForwardState enc;
    state.memory = s2s->encode(batch_.inputs, enc);
    logits = s2s->forward(from_vector(shifted, {B, T}), state);
  } else {
    logits = trainer_->model().forward(batch_.inputs, state);
  }
  check("logits", logits, expected("logits"));
}

TEST_P(Reference, Loss) {
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  train::LossOutput out = objective()->compute(trainer_->model(), batch_, state);
  check("loss", out.loss.reshape({1}), expected("loss"));
}

TEST_P(Reference, EveryParameterGradient) {
  nn::Model& model = trainer_->model();
  nn::ForwardState state;
  train::LossOutput out = objective()->compute(model, batch_, state);
  out.loss.backward();
  const auto params = model.named_parameters();
  int64_t expected_grads = 0;
  for (const auto& [key, t] : expected_.tensors) expected_grads += key.rfind("grad.", 0) == 0;
  EXPECT_EQ(int64_t(params.size()), expected_grads)
      << "the fixture has gradients of another set of parameters";
  for (const auto& [n, p] : params) {
    ASSERT_TRUE(p.grad().defined()) << n << " has no gradient";
    check("grad." + n, p.grad(), expected("grad." + n));
    worst_["gradients (all)"] = std::max(worst_["gradients (all)"], worst_["grad." + n]);
  }
}

// The trainer's weight-decay groups are the reference's (norm gains, biases and embedding
// tables undecayed), as the fixture's metadata lists them.
TEST_P(Reference, WeightDecayGroups) {
  auto it = expected_.metadata.find("no_decay");
  ASSERT_NE(it, expected_.metadata.end()) << "the fixture predates the no_decay metadata";
  std::vector<std::string> want;
  for (size_t b = 0, e; b < it->second.size(); b = e + 1) {
    e = std::min(it->second.find(',', b), it->second.size());
    want.push_back(it->second.substr(b, e - b));
  }
  const train::DecaySplit split =
      train::split_weight_decay(trainer_->model().named_parameters(),
                                trainer_->options().no_decay, trainer_->options().decay_vectors);
  std::vector<std::string> got;
  for (const auto& [n, p] : split.no_decay) got.push_back(n);
  std::sort(got.begin(), got.end());
  std::sort(want.begin(), want.end());
  EXPECT_EQ(got, want);
}

TEST_P(Reference, LossesOfTenAdamWSteps) {
  const Tensor& want = expected("losses");
  std::vector<float> losses;
  for (int64_t i = 0; i < want.numel(); ++i) losses.push_back(float(trainer_->train_step().loss));
  check("losses", from_vector(losses, {int64_t(losses.size())}), want);
  // Training on one batch must learn it: the last loss is well below the first.
  EXPECT_LT(losses.back(), losses.front() - 0.1f);
}

INSTANTIATE_TEST_SUITE_P(Models, Reference, ::testing::ValuesIn(case_names()),
                         [](const auto& info) { return info.param; });

}  // namespace
}  // namespace kiln::reference
