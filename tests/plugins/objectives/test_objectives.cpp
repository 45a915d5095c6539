// The objectives driven with the test models of fakes.h: losses in closed form (zero weights
// give zero logits: ln V per cross-entropy, ln 2 per binary one), what each model is fed,
// static and dynamic masking, gradients, and the errors of prepare().
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "plugins/objectives/bilm.h"
#include "plugins/objectives/denoising.h"
#include "plugins/objectives/mlm.h"
#include "plugins/objectives/rtd.h"
#include "plugins/objectives/sentence_pair.h"
#include "plugins/objectives/seq2seq.h"
#include "plugins/objectives/span_corruption.h"
#include "tests/plugins/objectives/fakes.h"

namespace kiln::objectives {
namespace {

using testing::FakeBiLM;
using testing::FakeElectra;
using testing::FakeSeq2Seq;
using testing::FakeTokenizer;
using testing::LinearEncoder;
using testing::random_batch;

std::string message_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

bool all_grads(const nn::Module& m, const std::set<std::string>& unused = {}) {
  for (const auto& [name, p] : m.named_parameters())
    if (!unused.count(name) && !p.grad().defined()) return false;
  return true;
}

TEST(MlmObjective, ZeroLogitsGiveLnVAtTheSelectedTokens) {
  auto tok = FakeTokenizer::words(50);
  LinearEncoder model(55, 8, /*zero=*/true);
  MaskedLM mlm(MlmOptions{}, false);
  mlm.prepare(testing::context(tok, &model));
  const data::Batch batch = random_batch(4, 64, tok->first_ordinary(), 50, 1);
  nn::ForwardState state;
  Generator gen(3);
  state.generator = &gen;
  const train::LossOutput out = mlm.compute(model, batch, state);
  EXPECT_NEAR(out.loss.item(), std::log(55.0), 1e-9);
  // Only the selected rows went through the MLM head.
  EXPECT_EQ(model.mlm_rows, out.tokens);
  EXPECT_GT(out.tokens, 0);
  EXPECT_LT(out.tokens, 4 * 64 / 2);
  EXPECT_TRUE(out.metrics.count("mlm_accuracy"));
  out.loss.backward();
  EXPECT_TRUE(model.named_parameters()[0].second.grad().defined());
}

TEST(MlmObjective, DynamicMasksDifferBetweenPassesStaticOnesDoNot) {
  auto tok = FakeTokenizer::words(50);
  const data::Batch batch = random_batch(2, 128, tok->first_ordinary(), 50, 2);
  for (bool fixed : {false, true}) {
    LinearEncoder model(55, 4, true);
    MaskedLM mlm(MlmOptions{}, fixed);
    mlm.prepare(testing::context(tok, &model, /*seed=*/42));
    Generator gen(9);
    for (int pass = 0; pass < 2; ++pass) {
      nn::ForwardState state;
      state.generator = &gen;
      mlm.compute(model, batch, state);
    }
    ASSERT_EQ(model.seen_tokens.size(), 2u);
    if (fixed)
      EXPECT_EQ(model.seen_tokens[0], model.seen_tokens[1]) << "static masks changed";
    else
      EXPECT_NE(model.seen_tokens[0], model.seen_tokens[1]) << "dynamic masks repeated";
  }
  // Static masks depend on the run's seed, and are the same whatever the generator's state.
  LinearEncoder a(55, 4, true), b(55, 4, true);
  MaskedLM s1(MlmOptions{}, true), s2(MlmOptions{}, true), s3(MlmOptions{}, true);
  s1.prepare(testing::context(tok, &a, 1));
  s2.prepare(testing::context(tok, &a, 2));
  s3.prepare(testing::context(tok, &b, 1));
  Generator g1(1), g2(2);
  nn::ForwardState st1, st2, st3;
  st1.generator = &g1;
  st2.generator = &g1;
  st3.generator = &g2;
  s1.compute(a, batch, st1);
  s2.compute(a, batch, st2);
  s3.compute(b, batch, st3);
  EXPECT_NE(a.seen_tokens[0], a.seen_tokens[1]);
  EXPECT_EQ(a.seen_tokens[0], b.seen_tokens[0]);
}

TEST(MlmObjective, PlainModelsAreScoredFromTheirLogits) {
  // A model that is not an EncoderModel: its forward() logits at the selected positions.
  auto tok = FakeTokenizer::words(20);
  FakeBiLM model(25, 4, true);
  MaskedLM mlm(MlmOptions{}, false);
  mlm.prepare(testing::context(tok, &model));
  nn::ForwardState state;
  const train::LossOutput out = mlm.compute(model, random_batch(2, 32, 5, 20, 4), state);
  EXPECT_NEAR(out.loss.item(), std::log(25.0), 1e-9);
}

TEST(MlmObjective, PaddingIsMaskedAndNeverSelected) {
  auto tok = FakeTokenizer::words(20);
  LinearEncoder model(25, 4, true);
  MaskedLM mlm(MlmOptions{0.5, 0.8, 0.1, false}, false);
  mlm.prepare(testing::context(tok, &model));
  std::vector<int64_t> ids(2 * 16, 7);
  for (int i = 10; i < 16; ++i) ids[size_t(16 + i)] = 0;  // [PAD] at the end of row 1
  data::Batch batch;
  batch.inputs = from_vector(ids, {2, 16});
  nn::ForwardState state;
  mlm.compute(model, batch, state);
  ASSERT_TRUE(model.seen_padding.defined());
  const std::vector<bool> real = model.seen_padding.to_vector<bool>();
  for (int i = 0; i < 32; ++i) EXPECT_EQ(real[size_t(i)], ids[size_t(i)] != 0);
  for (int i = 26; i < 32; ++i) EXPECT_EQ(model.seen_tokens[0][size_t(i)], 0);
}

TEST(MlmObjective, GivenMaskingReadsTheBatchAsItIs) {
  // masking = "given": the inputs go to the encoder unchanged, the labels are the targets, and
  // no tokenizer (so no mask token) is needed. With random weights the loss is the mean of
  // -log softmax(logits)[label] over the labelled positions, computed here by hand.
  LinearEncoder model(12, 4, /*zero=*/false);
  MaskedLM mlm(MlmOptions{}, false, /*given=*/true);
  mlm.prepare(testing::context(nullptr, &model));
  const std::vector<int64_t> in = {3, 11, 5, 6, 11, 2, 7, 8};
  const std::vector<int64_t> tg = {-100, 4, -100, -100, 9, -100, -100, 1};
  data::Batch batch;
  batch.inputs = from_vector(in, {2, 4});
  batch.targets = from_vector(tg, {2, 4});
  nn::ForwardState state;
  const train::LossOutput out = mlm.compute(model, batch, state);
  ASSERT_EQ(model.seen_tokens.size(), 1u);
  EXPECT_EQ(model.seen_tokens[0], in);
  EXPECT_EQ(out.tokens, 3);
  EXPECT_EQ(model.mlm_rows, 3);
  autograd::NoGrad no_grad;
  nn::ForwardState st;
  const std::vector<double> logits = model.forward(batch.inputs, st).to_vector<double>();
  double want = 0;
  for (size_t i = 0; i < tg.size(); ++i) {
    if (tg[i] == -100) continue;
    double z = 0;
    for (size_t v = 0; v < 12; ++v) z += std::exp(logits[i * 12 + v]);
    want += std::log(z) - logits[i * 12 + size_t(tg[i])];
  }
  EXPECT_NEAR(out.loss.item(), want / 3, 1e-12);
  // Targets that select nothing, or of another shape, are refused.
  data::Batch none = batch;
  none.targets = full({2, 4}, -100.0, DType::i64);
  std::string m = message_of([&] { mlm.compute(model, none, state); });
  EXPECT_NE(m.find("every target of the batch is -100"), std::string::npos) << m;
  none.targets = from_vector(std::vector<int64_t>{1, 2}, {1, 2});
  m = message_of([&] { mlm.compute(model, none, state); });
  EXPECT_NE(m.find("must be [B, T] as the inputs"), std::string::npos) << m;
}

TEST(MlmObjective, NeedsAMaskToken) {
  auto tok = std::make_shared<FakeTokenizer>(std::vector<std::string>{" a", " b"}, 0,
                                             std::vector<std::string>{"[PAD]"});
  MaskedLM mlm(MlmOptions{}, false);
  const std::string m = message_of([&] { mlm.prepare(testing::context(tok, nullptr)); });
  EXPECT_NE(m.find("mlm: the tokenizer has no mask token ([MASK] or <mask>)"), std::string::npos)
      << m;
  const std::string n = message_of([&] { mlm.prepare(testing::context(nullptr, nullptr)); });
  EXPECT_NE(n.find("no tokenizer"), std::string::npos) << n;
}

TEST(SentencePairObjective, LossIsMlmPlusPairLoss) {
  auto tok = FakeTokenizer::words(50);
  for (PairTask task : {PairTask::nsp, PairTask::sop}) {
    LinearEncoder model(55, 8, true);
    SentencePairObjective obj(task, MlmOptions{}, false, true);
    obj.prepare(testing::context(tok, &model));
    nn::ForwardState state;
    Generator gen(5);
    state.generator = &gen;
    const train::LossOutput out = obj.compute(model, random_batch(8, 32, 5, 50, 6), state);
    EXPECT_NEAR(out.loss.item(), std::log(55.0) + std::log(2.0), 1e-9);
    const std::string name = task == PairTask::nsp ? "nsp" : "sop";
    EXPECT_NEAR(out.metrics.at(name + "_loss"), std::log(2.0), 1e-9);
    EXPECT_NEAR(out.metrics.at("mlm_loss"), std::log(55.0), 1e-9);
    // The model read [CLS] A [SEP] B [SEP] with token types, [CLS] and [SEP] never masked.
    const std::vector<int64_t>& seen = model.seen_tokens[0];
    ASSERT_EQ(model.seen_types.size(), seen.size());
    for (int64_t r = 0; r < 8; ++r) {
      EXPECT_EQ(seen[size_t(r * 32)], 2);
      EXPECT_EQ(seen[size_t(r * 32 + 31)], 3);
      EXPECT_EQ(model.seen_types[size_t(r * 32)], 0);
      EXPECT_EQ(model.seen_types[size_t(r * 32 + 31)], 1);
      int seps = 0;
      for (int64_t t = 0; t < 32; ++t) seps += seen[size_t(r * 32 + t)] == 3;
      EXPECT_EQ(seps, 2);
    }
    out.loss.backward();
    EXPECT_TRUE(all_grads(model));
  }
}

TEST(SentencePairObjective, PairsAreBalancedOverBatches) {
  auto tok = FakeTokenizer::words(50);
  LinearEncoder model(55, 4, true);
  SentencePairObjective obj(PairTask::nsp, MlmOptions{}, false, false);
  obj.prepare(testing::context(tok, &model));
  std::vector<int32_t> rows(size_t(16 * 20));
  for (size_t i = 0; i < rows.size(); ++i) rows[i] = 5 + int32_t(i % 50);
  Rng rng(1);
  int64_t ones = 0, n = 0;
  for (int k = 0; k < 2000; ++k) {
    const auto p = obj.make_pairs(rows, 16, 20, rng);
    for (int64_t l : p.labels) ones += l;
    n += 16;
  }
  EXPECT_NEAR(double(ones) / double(n), 0.5, 0.01);
}

TEST(SentencePairObjective, NeedsATwoClassSentenceHead) {
  auto tok = FakeTokenizer::words(10);
  LinearEncoder none(15, 4, true, /*sentence_classes=*/0);
  SentencePairObjective obj(PairTask::sop, MlmOptions{}, false, true);
  const std::string m = message_of([&] { obj.prepare(testing::context(tok, &none)); });
  EXPECT_NE(m.find("sentence_head = 2"), std::string::npos) << m;
  FakeBiLM bilm(15, 4, true);
  const std::string n = message_of([&] { obj.prepare(testing::context(tok, &bilm)); });
  EXPECT_NE(n.find("sop: the model is not an encoder"), std::string::npos) << n;
}

TEST(RtdObjective, GeneratorMlmPlusFiftyTimesTheDiscriminatorsBce) {
  auto tok = FakeTokenizer::words(50);
  FakeElectra model(55, 8, true);
  ReplacedTokenDetection rtd(MlmOptions{0.15, 0.85, 0.0, false}, false, 50.0, 1.0);
  rtd.prepare(testing::context(tok, &model));
  nn::ForwardState state;
  Generator gen(11);
  state.generator = &gen;
  const data::Batch batch = random_batch(4, 64, 5, 50, 12);
  const train::LossOutput out = rtd.compute(model, batch, state);
  EXPECT_NEAR(out.loss.item(), std::log(55.0) + 50 * std::log(2.0), 1e-9);
  EXPECT_NEAR(out.metrics.at("rtd_loss"), std::log(2.0), 1e-9);
  // Zero logits answer "original" everywhere: the accuracy is the fraction of originals.
  EXPECT_DOUBLE_EQ(out.metrics.at("rtd_accuracy"), out.metrics.at("rtd_original"));
  EXPECT_EQ(out.metrics.at("rtd_recall"), 0.0);  // no logit is above 0: nothing called replaced
  EXPECT_EQ(out.tokens, 4 * 64);
  // The discriminator read the original tokens but at the masked positions, where the
  // generator's samples (uniform over 55 ids: any id) went; most of those differ.
  const std::vector<int64_t> orig = batch.inputs.to_vector<int64_t>();
  int64_t changed = 0;
  for (size_t i = 0; i < orig.size(); ++i) changed += model.seen_tokens[i] != orig[i];
  EXPECT_NEAR(1.0 - out.metrics.at("rtd_original"), double(changed) / double(orig.size()), 1e-12);
  EXPECT_GT(changed, 0);
  out.loss.backward();
  // The generator's token types and sentence head are not used by rtd.
  EXPECT_TRUE(all_grads(model, {"generator.p.types", "generator.p.sent"}));
}

TEST(RtdObjective, NoGradientFlowsThroughTheSampling) {
  // The generator's gradient is the same with and without the discriminator's term: that
  // term reaches the generator only through the sampled tokens, which carry no gradient.
  auto tok = FakeTokenizer::words(30);
  const data::Batch batch = random_batch(4, 32, 5, 30, 13);
  std::vector<std::vector<double>> grads;
  for (double lambda : {0.0, 50.0}) {
    manual_seed(1);
    FakeElectra model(35, 4, false);
    ReplacedTokenDetection rtd(MlmOptions{0.15, 0.85, 0.0, false}, false, lambda, 1.0);
    rtd.prepare(testing::context(tok, &model));
    nn::ForwardState state;
    Generator gen(14);
    state.generator = &gen;
    rtd.compute(model, batch, state).loss.backward();
    std::vector<double> g;
    for (const auto& [name, p] : model.gen_->named_parameters())
      if (p.grad().defined())
        for (double v : p.grad().to_vector<double>()) g.push_back(v);
    grads.push_back(g);
  }
  EXPECT_EQ(grads[0], grads[1]);
}

TEST(RtdObjective, NeedsAnElectraModel) {
  auto tok = FakeTokenizer::words(10);
  LinearEncoder enc(15, 4, true);
  ReplacedTokenDetection rtd(MlmOptions{}, false, 50, 1);
  const std::string m = message_of([&] { rtd.prepare(testing::context(tok, &enc)); });
  EXPECT_NE(m.find("not an ELECTRA model"), std::string::npos) << m;
}

TEST(RtdObjective, BinaryCrossEntropyMatchesItsFormula) {
  const Tensor x = from_vector(std::vector<double>{-2.0, 0.5, 3.0, 1.0}, {2, 2});
  const Tensor y = from_vector(std::vector<double>{0, 1, 1, 0}, {2, 2});
  const Tensor w = from_vector(std::vector<double>{1, 1, 1, 0}, {2, 2});
  auto bce = [](double x, double y) { return std::log1p(std::exp(x)) - y * x; };
  const double expected = (bce(-2, 0) + bce(0.5, 1) + bce(3, 1)) / 3;
  EXPECT_NEAR(binary_cross_entropy_with_logits(x, y, w).item(), expected, 1e-12);
}

// Rebuilds the original row from T5's inputs and targets: each sentinel of the inputs is
// replaced by what follows the same sentinel in the targets.
std::vector<int64_t> uncorrupt(const std::vector<int64_t>& in, const std::vector<int64_t>& tgt,
                               const std::set<int64_t>& sentinels) {
  std::vector<int64_t> out;
  for (int64_t t : in) {
    if (!sentinels.count(t)) {
      out.push_back(t);
      continue;
    }
    auto it = std::find(tgt.begin(), tgt.end(), t);
    EXPECT_NE(it, tgt.end());
    for (++it; it != tgt.end() && !sentinels.count(*it); ++it) out.push_back(*it);
  }
  return out;
}

TEST(SpanCorruptionObjective, EncoderReadsSentinelsDecoderWritesSpans) {
  auto tok = FakeTokenizer::words(40, /*sentinels=*/10);
  FakeSeq2Seq model(60, 8, true, /*start=*/0);
  SpanCorruptionObjective obj(SpanCorruptionOptions{0.15, 3.0, false});
  obj.prepare(testing::context(tok, &model));
  nn::ForwardState state;
  Generator gen(21);
  state.generator = &gen;
  const data::Batch batch = random_batch(3, 40, tok->first_ordinary(), 40, 22);
  const train::LossOutput out = obj.compute(model, batch, state);
  EXPECT_NEAR(out.loss.item(), std::log(60.0), 1e-9);
  // 40 tokens: 6 noise in 2 spans. Inputs 34 + 2 sentinels; targets 6 + 2.
  EXPECT_EQ(model.source_shape, (Shape{3, 36}));
  EXPECT_EQ(model.decoder_shape, (Shape{3, 8}));
  EXPECT_EQ(out.tokens, 3 * 8);
  std::set<int64_t> sentinels;
  for (int i = 0; i < 10; ++i)
    sentinels.insert(*tok->special_id("<extra_id_" + std::to_string(i) + ">"));
  const std::vector<int64_t> orig = batch.inputs.to_vector<int64_t>();
  for (int64_t r = 0; r < 3; ++r) {
    const std::vector<int64_t> in(model.sources.begin() + r * 36,
                                  model.sources.begin() + (r + 1) * 36);
    // The decoder input is the target shifted right behind the start token: recover it.
    std::vector<int64_t> dec(model.decoder_inputs.begin() + r * 8,
                             model.decoder_inputs.begin() + (r + 1) * 8);
    EXPECT_EQ(dec[0], 0);
    EXPECT_EQ(dec[1], *tok->special_id("<extra_id_0>"));
    // The targets' last token is not in the decoder input; rebuild from the inputs' side.
    std::vector<int64_t> tgt(dec.begin() + 1, dec.end());
    const std::vector<int64_t> rebuilt = uncorrupt(in, tgt, sentinels);
    // All but the last noise token (dropped by the shift) come back in place.
    EXPECT_EQ(rebuilt.size(), 39u);
    EXPECT_TRUE(std::equal(rebuilt.begin(), rebuilt.end(), orig.begin() + r * 40));
  }
  out.loss.backward();
  EXPECT_TRUE(all_grads(model));
}

TEST(SpanCorruptionObjective, NeedsSentinelsAndAnEncoderDecoder) {
  auto none = FakeTokenizer::words(10);
  FakeSeq2Seq model(20, 4, true, 0);
  SpanCorruptionObjective obj(SpanCorruptionOptions{});
  std::string m = message_of([&] { obj.prepare(testing::context(none, &model)); });
  EXPECT_NE(m.find("sentinels = 100"), std::string::npos) << m;
  auto few = FakeTokenizer::words(10, 1);
  LinearEncoder enc(20, 4, true);
  m = message_of([&] { obj.prepare(testing::context(few, &enc)); });
  EXPECT_NE(m.find("not an encoder-decoder"), std::string::npos) << m;
  obj.prepare(testing::context(few, &model));
  nn::ForwardState state;
  m = message_of([&] { obj.compute(model, random_batch(1, 64, 6, 10, 1), state); });
  EXPECT_NE(m.find("give it sentinels = 3 or more"), std::string::npos) << m;
}

TEST(Seq2SeqObjective, EncoderReadsInputsDecoderWritesTargetsShiftedRight) {
  // The pairs as given: the source is the inputs, the decoder reads the targets behind the
  // start token with -100 read as the pad ([PAD] = 0 here, start 3), and the loss is taken
  // where the targets are not -100; source padding hides the keys.
  auto tok = FakeTokenizer::words(10);
  FakeSeq2Seq model(15, 4, /*zero=*/true, /*start=*/3);
  Seq2SeqObjective obj;
  obj.prepare(testing::context(tok, &model));
  data::Batch batch;
  batch.inputs = from_vector(std::vector<int64_t>{5, 6, 7, 0, 8, 9, 10, 11}, {2, 4});
  batch.targets = from_vector(std::vector<int64_t>{12, 13, -100, -100, 6, -100, 7, 8}, {2, 4});
  nn::ForwardState state;
  const train::LossOutput out = obj.compute(model, batch, state);
  EXPECT_NEAR(out.loss.item(), std::log(15.0), 1e-12);
  EXPECT_EQ(out.tokens, 5);
  EXPECT_EQ(model.sources, (std::vector<int64_t>{5, 6, 7, 0, 8, 9, 10, 11}));
  EXPECT_EQ(model.decoder_inputs, (std::vector<int64_t>{3, 12, 13, 0, 3, 6, 0, 7}));
  ASSERT_TRUE(model.source_padding.defined());
  EXPECT_EQ(model.source_padding.to_vector<bool>(),
            (std::vector<bool>{true, true, true, false, true, true, true, true}));
  EXPECT_TRUE(model.memory_padding.defined());
  out.loss.backward();
  EXPECT_TRUE(all_grads(model));
  // Without a tokenizer there is no pad: -100 reads as the start token, no keys are hidden.
  FakeSeq2Seq bare(15, 4, true, 3);
  Seq2SeqObjective plain;
  plain.prepare(testing::context(nullptr, &bare));
  plain.compute(bare, batch, state);
  EXPECT_EQ(bare.decoder_inputs, (std::vector<int64_t>{3, 12, 13, 3, 3, 6, 3, 7}));
  EXPECT_FALSE(bare.source_padding.defined());
  // Not an encoder-decoder.
  LinearEncoder enc(15, 4, true);
  const std::string m = message_of([&] { plain.prepare(testing::context(nullptr, &enc)); });
  EXPECT_NE(m.find("seq2seq: the model is not an encoder-decoder"), std::string::npos) << m;
}

TEST(DenoisingObjective, DecoderReconstructsTheOriginalFromPaddedSources) {
  // Words of two tokens (" wN" begins a word, "xN" continues it); "." ends sentences.
  std::vector<std::string> ordinary;
  for (int i = 0; i < 20; ++i) ordinary.push_back(std::string(" w").append(std::to_string(i)));
  for (int i = 0; i < 20; ++i) ordinary.push_back(std::string("x").append(std::to_string(i)));
  ordinary.push_back(".");
  auto tok = std::make_shared<FakeTokenizer>(ordinary);
  FakeSeq2Seq model(50, 8, true, /*start=*/3);
  DenoisingOptions o;
  o.delete_ratio = 0.1;
  DenoisingObjective obj(o);
  obj.prepare(testing::context(tok, &model));
  const data::Batch batch = random_batch(4, 48, 5, 41, 31);
  nn::ForwardState state;
  Generator gen(32);
  state.generator = &gen;
  const train::LossOutput out = obj.compute(model, batch, state);
  EXPECT_NEAR(out.loss.item(), std::log(50.0), 1e-9);
  // Targets are the rows; the decoder reads them behind the start token.
  EXPECT_EQ(model.decoder_shape, (Shape{4, 48}));
  const std::vector<int64_t> orig = batch.inputs.to_vector<int64_t>();
  for (int64_t r = 0; r < 4; ++r) {
    EXPECT_EQ(model.decoder_inputs[size_t(r * 48)], 3);
    for (int64_t t = 1; t < 48; ++t)
      EXPECT_EQ(model.decoder_inputs[size_t(r * 48 + t)], orig[size_t(r * 48 + t - 1)]);
  }
  // Sources are shorter (spans became one mask each, tokens deleted) and padded to the longest,
  // the padding marked.
  const int64_t S = model.source_shape[1];
  EXPECT_LT(S, 48);
  int64_t masks = 0;
  for (int64_t id : model.sources) masks += id == 4;
  EXPECT_GT(masks, 0);
  if (model.source_padding.defined()) {
    const std::vector<bool> real = model.source_padding.to_vector<bool>();
    for (size_t i = 0; i < real.size(); ++i)
      if (!real[i]) {
        EXPECT_EQ(model.sources[i], 0);
      }
    EXPECT_TRUE(model.memory_padding.defined());
  }
  out.loss.backward();
  EXPECT_TRUE(all_grads(model));
}

TEST(BiLMObjective, MeanOfTheTwoDirections) {
  auto tok = FakeTokenizer::words(10);
  FakeBiLM zero(15, 4, true);
  BiLMObjective obj;
  obj.prepare(testing::context(tok, &zero));
  nn::ForwardState state;
  const train::LossOutput out = obj.compute(zero, random_batch(2, 16, 5, 10, 41), state);
  EXPECT_NEAR(out.loss.item(), std::log(15.0), 1e-9);
  EXPECT_EQ(out.tokens, 2 * 15);

  // With weights: compare with the two cross-entropies computed here from the model's logits.
  manual_seed(3);
  FakeBiLM model(15, 4, false);
  data::Batch batch = random_batch(2, 16, 5, 10, 42);
  // Documents: row 0 changes document at t = 6, so the backward target at t = 6 is skipped.
  std::vector<int64_t> seg(32, 0);
  for (int t = 6; t < 16; ++t) seg[size_t(t)] = 1;
  batch.segment_ids = from_vector(seg, {2, 16});
  const train::LossOutput got = obj.compute(model, batch, state);
  nn::ForwardState s2;
  const auto logits = model.bidirectional_logits(batch.inputs, s2);
  const std::vector<double> f = logits.forward.to_vector<double>(),
                            b = logits.backward.to_vector<double>();
  const std::vector<int64_t> ids = batch.inputs.to_vector<int64_t>();
  auto nll = [&](const std::vector<double>& l, size_t pos, int64_t target) {
    double m = -INFINITY, s = 0;
    for (int v = 0; v < 15; ++v) m = std::max(m, l[pos * 15 + size_t(v)]);
    for (int v = 0; v < 15; ++v) s += std::exp(l[pos * 15 + size_t(v)] - m);
    return m + std::log(s) - l[pos * 15 + size_t(target)];
  };
  double fs = 0, bs = 0;
  int fn = 0, bn = 0;
  for (int r = 0; r < 2; ++r)
    for (int t = 0; t < 16; ++t) {
      const size_t i = size_t(r * 16 + t);
      if (t + 1 < 16) fs += nll(f, i, ids[i + 1]), ++fn;
      if (t >= 1 && seg[i] == seg[i - 1]) bs += nll(b, i, ids[i - 1]), ++bn;
    }
  EXPECT_EQ(bn, 29);
  EXPECT_NEAR(got.metrics.at("forward_loss"), fs / fn, 1e-9);
  EXPECT_NEAR(got.metrics.at("backward_loss"), bs / bn, 1e-9);
  EXPECT_NEAR(got.loss.item(), 0.5 * (fs / fn + bs / bn), 1e-9);
}

}  // namespace
}  // namespace kiln::objectives
