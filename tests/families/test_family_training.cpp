// The model families of issue 5 trained on tiny Shakespeare, as a researcher runs them: each
// spec in tests/families/ includes its family's tiny preset from models/ and its pre-training
// objective, and the Trainer makes 300 updates (acceptance 2 and 3).
//
// Each family's objective loss must fall by at least 30% from the first step's: the first
// step's loss is compared with the mean of the last 10 steps' (one step's loss over a few
// hundred masked characters is noisy). ELECTRA's discriminator must beat always answering
// "original" on the same batches; the tiny BERT's masked-token accuracy on held-out text must
// beat predicting the most frequent training token. Each test prints its figures on a line
// that starts with "[family]".
//
// Settings (tests/families/common.lua says why): rows of 16 characters in batches of 64, AdamW
// at 1e-3 held constant after 20 warmup steps (BERT: 96 rows; BART: 32; T5: 16; ELMo: rows of 32
// in batches of 8 at 5e-3; ELECTRA's discriminator: a smaller generator, 25% masking, 600
// steps); one thread (the tests run in CI on two cores).
//
// Debugging: KILN_FAMILY_VERBOSE=1 prints the loss and metrics every 25 steps, and
// KILN_FAMILY_SET="train.steps=1000;model.norm_position=pre" adds --set overrides (';'-separated),
// and the disabled test AnySpecFromEnvironment trains tests/families/$KILN_FAMILY_SPEC.lua (the
// causal baselines gpt2.lua and gpt2post.lua, for instance).
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/registry/plugin.h"
#include "core/tensor/factory.h"
#include "core/train/trainer.h"
#include "dsl/spec.h"

namespace kiln::testing {
namespace {

namespace fs = std::filesystem;
using train::StepReport;
using train::Trainer;

const std::string kSpecs = std::string(KILN_SOURCE_DIR) + "/tests/families/";
const std::string kShakespeare = std::string(KILN_SHARED_DATA) + "/tinyshakespeare/input.txt";

constexpr int64_t kSteps = 300;
constexpr size_t kTail = 10;      // the last steps whose mean loss is "the loss after training"
constexpr double kMinDrop = 0.3;  // acceptance 2: at least 30% below the first step's loss

class FamilyTraining : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    set_num_threads(1);
    load_default_plugins();
  }
  void SetUp() override {
    if (!fs::exists(kShakespeare)) GTEST_SKIP() << "tiny Shakespeare is absent: " << kShakespeare;
    null_ = std::fopen("/dev/null", "w");
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    out_ = fs::temp_directory_path() /
           ("kiln_family_" + std::to_string(::getpid()) + "_" + info->name());
  }
  void TearDown() override {
    if (null_) std::fclose(null_);
    fs::remove_all(out_);
  }

  /// Builds tests/families/<family>.lua on the shared data and makes kSteps updates.
  std::unique_ptr<Trainer> train(const std::string& family) {
    dsl::SpecOptions so;
    so.overrides = {"data.path=\"" + kShakespeare + "\""};
    if (const char* extra = std::getenv("KILN_FAMILY_SET")) {  // debugging: more overrides, ';'
      std::string e = extra;
      for (size_t a = 0, b; a < e.size(); a = b + 1) {
        b = e.find(';', a);
        if (b == std::string::npos) b = e.size();
        so.overrides.push_back(e.substr(a, b - a));
      }
    }
    train::TrainerOptions o;
    o.out = out_.string();
    o.console = null_;
    o.interactive = false;
    o.handle_signals = false;
    o.mfu = false;
    auto t = std::make_unique<Trainer>(dsl::load_spec(kSpecs + family + ".lua", so), o);
    reports_.clear();
    const bool verbose = std::getenv("KILN_FAMILY_VERBOSE") != nullptr;
    for (int64_t s = 0; s < t->options().steps; ++s) {
      reports_.push_back(t->train_step());
      if (verbose && (s % 25 == 0 || s == t->options().steps - 1)) {
        std::printf("  %s step %lld loss %.4f", family.c_str(), (long long)s + 1,
                    reports_.back().loss);
        for (const auto& [k, v] : reports_.back().metrics) std::printf(" %s %.4f", k.c_str(), v);
        std::printf("\n");
      }
    }
    return t;
  }

  /// Acceptance 2: the mean loss of the last kTail steps is at least kMinDrop below the first
  /// step's. Prints the figures.
  void expect_loss_drop(const std::string& family) {
    ASSERT_EQ(reports_.size(), size_t(kSteps));
    for (const StepReport& r : reports_) ASSERT_FALSE(r.skipped) << family << " step " << r.step;
    const double first = reports_.front().loss;
    double last = 0;
    for (size_t i = reports_.size() - kTail; i < reports_.size(); ++i) last += reports_[i].loss;
    last /= double(kTail);
    const double drop = 1 - last / first;
    std::printf("[family] %s: first-step loss %.4f, mean of the last %zu steps %.4f, drop %.1f%%\n",
                family.c_str(), first, kTail, last, 100 * drop);
    EXPECT_GE(drop, kMinDrop) << family << ": first-step loss " << first << ", last " << last;
  }

  /// The mean over the last kTail steps of a metric the objective reports.
  double tail_metric(const std::string& name) const {
    double sum = 0;
    for (size_t i = reports_.size() - kTail; i < reports_.size(); ++i) {
      auto it = reports_[i].metrics.find(name);
      EXPECT_NE(it, reports_[i].metrics.end()) << "no metric " << name;
      if (it != reports_[i].metrics.end()) sum += it->second;
    }
    return sum / double(kTail);
  }

  std::vector<StepReport> reports_;
  std::FILE* null_ = nullptr;
  fs::path out_;
};

// Acceptance 3: masked-token accuracy of the trained model on held-out text (the val split,
// never trained on) against always predicting the most frequent token of the train split.
// Measured here rather than with the mlm objective's own metric: rows as long as the training
// rows, framed as training framed them ([CLS] text [SEP] when the tokenizer has both) and
// filled with consecutive windows of the val split, 15% of the text positions (drawn by a
// fixed std::mt19937) replaced by [MASK], the argmax of the MLM logits at those positions
// against the original characters.
struct MaskedAccuracy {
  double accuracy = 0, baseline = 0;
  int64_t positions = 0;
  int32_t most_frequent = 0;
};

MaskedAccuracy held_out_masked_accuracy(Trainer& t, int64_t rows) {
  data::Dataset& d = t.dataset();
  const auto tokenizer = d.tokenizer();
  const std::optional<int32_t> mask = tokenizer->special_id("mask");
  const std::optional<int32_t> cls = tokenizer->special_id("cls"), sep = tokenizer->special_id("sep");
  EXPECT_TRUE(mask.has_value());
  MaskedAccuracy out;

  std::vector<int64_t> counts(size_t(tokenizer->vocab_size()), 0);
  for (int32_t id : d.tokens(data::Split::train)) ++counts[size_t(id)];
  out.most_frequent =
      int32_t(std::max_element(counts.begin(), counts.end()) - counts.begin());

  const int64_t seq_len = t.options().seq_len;
  const bool framed = cls && sep;
  const int64_t text_len = framed ? seq_len - 2 : seq_len;
  const std::span<const int32_t> val = d.tokens(data::Split::val);
  rows = std::min<int64_t>(rows, int64_t(val.size()) / text_len);
  EXPECT_GT(rows, 0);
  std::vector<int64_t> inputs, originals;
  std::vector<int64_t> where;  // flat positions that were masked
  std::mt19937 rng(2024);
  std::bernoulli_distribution pick(0.15);
  for (int64_t r = 0; r < rows; ++r) {
    if (framed) inputs.push_back(*cls);
    for (int64_t i = 0; i < text_len; ++i) {
      const int32_t tok = val[size_t(r * text_len + i)];
      if (pick(rng)) {
        where.push_back(int64_t(inputs.size()));
        originals.push_back(tok);
        inputs.push_back(*mask);
      } else {
        inputs.push_back(tok);
      }
    }
    if (framed) inputs.push_back(*sep);
  }
  out.positions = int64_t(where.size());

  nn::Model& model = t.model();
  model.eval();
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  const Tensor logits = model.forward(from_vector(inputs, {rows, seq_len}), state);
  const std::vector<int64_t> best =
      ops::argmax(logits.reshape({rows * seq_len, logits.size(2)}), 1).to_vector<int64_t>();
  int64_t right = 0, frequent = 0;
  for (size_t k = 0; k < where.size(); ++k) {
    right += best[size_t(where[k])] == originals[k];
    frequent += originals[k] == out.most_frequent;
  }
  out.accuracy = double(right) / double(where.size());
  out.baseline = double(frequent) / double(where.size());
  model.train();
  return out;
}

// BERT: MLM (static masking) + NSP. Also acceptance 3, on the model this run trained.
TEST_F(FamilyTraining, BertLossDropsAndHeldOutMaskedAccuracyBeatsMostFrequentToken) {
  auto t = train("bert");
  expect_loss_drop("bert");
  const MaskedAccuracy m = held_out_masked_accuracy(*t, 512);
  const std::string c = t->dataset().tokenizer()->decode({m.most_frequent});
  std::printf(
      "[family] bert held-out masked-token accuracy %.4f over %lld positions; most frequent "
      "token (%s) %.4f\n",
      m.accuracy, (long long)m.positions, c == " " ? "space" : c.c_str(), m.baseline);
  EXPECT_GE(m.positions, 400);
  EXPECT_GT(m.accuracy, m.baseline);
}

// RoBERTa: MLM alone, dynamic masking.
TEST_F(FamilyTraining, RobertaLossDrops) {
  train("roberta");
  expect_loss_drop("roberta");
}

// ALBERT: MLM + SOP over one block shared by four layers, at the tiny preset's E = 128 (ALBERT's
// own; at H = 128 nothing is projected. With E = 64 projected it fell 25.6%; tests/families/
// albert.lua says what was tried). Measured: 4.986 -> 3.359, 32.6%.
TEST_F(FamilyTraining, AlbertLossDrops) {
  train("albert");
  expect_loss_drop("albert");
}

// ELECTRA: generator MLM + 50 x replaced-token detection; the loss falls.
TEST_F(FamilyTraining, ElectraLossDrops) {
  train("electra");
  expect_loss_drop("electra");
}

// The discriminator's accuracy over the last steps against the fraction of original tokens
// among the scored positions of the same batches (the accuracy of always answering "original"),
// each batch scored before the step that learns from it. electra_small_generator.lua: a
// generator 1/32 of the discriminator's width, 25% masking, 600 steps (the preset's 1/4
// generator stays at the base rate at 15% masking and gets there at 25% only after about 1500
// steps; the spec says why). Measured: 0.7941 against 0.7757, a recall of 0.166 of the replaced
// tokens.
TEST_F(FamilyTraining, ElectraDiscriminatorBeatsAlwaysOriginal) {
  train("electra_small_generator");
  const double accuracy = tail_metric("rtd_accuracy"), original = tail_metric("rtd_original");
  std::printf(
      "[family] electra discriminator accuracy %.4f over the last %zu steps; always "
      "\"original\" %.4f; recall of replaced tokens %.3f\n",
      accuracy, kTail, original, tail_metric("rtd_recall"));
  EXPECT_GT(accuracy, original + 0.01);
}

// BART: denoising (sentence permutation, text infilling), the decoder writes the original.
TEST_F(FamilyTraining, BartLossDrops) {
  train("bart");
  expect_loss_drop("bart");
}

// T5: span corruption, the decoder writes the sentinels and their spans.
TEST_F(FamilyTraining, T5LossDrops) {
  train("t5");
  expect_loss_drop("t5");
}

// ELMo: forward and backward LSTM language models.
TEST_F(FamilyTraining, ElmoLossDrops) {
  train("elmo");
  expect_loss_drop("elmo");
}

// Debugging: trains tests/families/$KILN_FAMILY_SPEC.lua (e.g. a decoder baseline written for a
// comparison) and prints its loss drop. Run with --gtest_also_run_disabled_tests.
TEST_F(FamilyTraining, DISABLED_AnySpecFromEnvironment) {
  const char* spec = std::getenv("KILN_FAMILY_SPEC");
  if (!spec) GTEST_SKIP() << "KILN_FAMILY_SPEC names no spec";
  train(spec);
  expect_loss_drop(spec);
}

// Acceptance 2, ALBERT: the parameter count of the spec's model with a factorised embedding
// (E = 64 projected to H = 128; the tiny preset and the training run above keep E = 128), 4
// layers sharing one block, the MLM head and the SOP head, equals the count by hand, where the
// shared block counts once; unsharing it (n_groups = 4) adds exactly three blocks. Needs no
// data.
TEST(FamilySpecs, AlbertTinyParameterCountWithSharingIsComputedByHand) {
  set_num_threads(1);
  load_default_plugins();
  const int64_t V = 69, C = 16, E = 64, H = 128, F = 4 * H, types = 2;
  const int64_t embeddings = V * E + C * E + types * E + 2 * E;  // token, position, type, norm
  const int64_t projection = E * H + H;                           // E -> H
  const int64_t block = (4 * H * H + 4 * H)                       // q, k, v, output
                        + 2 * H                                   // norm after attention
                        + (H * F + F) + (F * H + H)               // MLP
                        + 2 * H;                                  // norm after the MLP
  const int64_t mlm = H * E + E + 2 * E + V;  // dense H -> E, norm, output bias (decoder tied)
  const int64_t sop = H * H + H + 2 * H + 2;  // pooler, 2-way classifier
  for (int64_t groups : {1, 4}) {
    SCOPED_TRACE(groups);
    dsl::SpecOptions so;
    so.overrides = {"model.n_groups=" + std::to_string(groups),
                    "model.d_embed=" + std::to_string(E)};
    const Config spec = dsl::load_spec(kSpecs + "albert.lua", so);
    auto m = Registry::global().create<nn::Model>(spec.at("model"));
    EXPECT_EQ(m->num_parameters(), embeddings + projection + groups * block + mlm + sop);
  }
}

}  // namespace
}  // namespace kiln::testing
