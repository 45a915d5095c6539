// The perplexity evaluator on models whose log-probabilities are known in closed form: the
// score of documents longer than the context equals the sum over the windows documented in
// core/eval/windows.h, computed here from the model's definition, independently of the
// window functions.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "plugins/evaluators/perplexity.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

using testing::ByteTokenizer;
using testing::FixedDataset;
using testing::PositionalBigramModel;
using testing::TinyAttentionModel;
using testing::UniformModel;
using Tokens = std::vector<int32_t>;

// Sum of log-probs of the rolling windows, from the worked example of windows.h: with s =
// [prefix] + doc (or doc without a prefix) the predicted tokens are d = s[1:], n of them, d[i]
// read at s[i]. The first window predicts d[0 .. L-1] at positions 0 .. L-1; a full later
// window w predicts d[wL .. wL+L-1] at positions 0 .. L-1; the last short one reads the L
// tokens s[n-L .. n-1], so d[i] sits at position i - (n - L).
double rolling_reference(const PositionalBigramModel& m, const Tokens& doc,
                         std::optional<int32_t> prefix, int64_t L, int64_t* count) {
  Tokens s = prefix ? Tokens{*prefix} : Tokens{};
  s.insert(s.end(), doc.begin(), doc.end());
  const int64_t n = int64_t(s.size()) - 1;
  double lp = 0;
  for (int64_t i = 0; i < n; ++i) {
    int64_t pos = i;
    if (i >= L) {
      const int64_t start = (i / L) * L, end = std::min(start + L, n);
      pos = end - start == L ? i - start : i - (n - L);
    }
    lp += m.logprob(s[size_t(i)], pos, s[size_t(i + 1)]);
  }
  *count += std::max<int64_t>(n, 0);
  return lp;
}

// The Hugging Face loop in closed form: token s[j] (j >= 1) is scored by the first window k
// whose end kS + L passes it, k = 0 for j < L and floor((j - L) / S) + 1 otherwise; that
// window begins at kS, so s[j] is predicted at position j - 1 - kS.
double strided_reference(const PositionalBigramModel& m, const Tokens& doc,
                         std::optional<int32_t> prefix, int64_t L, int64_t S, int64_t* count) {
  Tokens s = prefix ? Tokens{*prefix} : Tokens{};
  s.insert(s.end(), doc.begin(), doc.end());
  double lp = 0;
  for (int64_t j = 1; j < int64_t(s.size()); ++j) {
    const int64_t k = j < L ? 0 : (j - L) / S + 1;
    lp += m.logprob(s[size_t(j - 1)], j - 1 - k * S, s[size_t(j)]);
    ++*count;
  }
  return lp;
}

std::vector<Document> random_documents(const std::vector<int>& lengths, int32_t vocab,
                                       uint64_t seed = 11) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int32_t> tok(0, vocab - 1);
  std::vector<Document> docs;
  for (int n : lengths) {
    Document d;
    for (int i = 0; i < n; ++i) d.tokens.push_back(tok(rng));
    d.text = std::string(size_t(n), 'x');
    docs.push_back(std::move(d));
  }
  return docs;
}

void expect_rel_near(double got, double want, const std::string& what) {
  EXPECT_NEAR(got, want, 1e-12 * std::max(1.0, std::abs(want))) << what;
}

constexpr int32_t kV = 13, kPrefix = 12;
constexpr int64_t kContext = 8;
const std::vector<int> kLengths = {3, 8, 9, 17, 30, 1, 24};

TEST(Perplexity, RollingEqualsTheSumOverTheDocumentedWindows) {
  PositionalBigramModel model(kV, kContext);
  std::vector<Document> docs = random_documents(kLengths, kV - 1);
  for (int64_t L : {kContext, int64_t(5), int64_t(2)}) {
    PerplexityOptions o;
    o.context = L;
    o.prefix_token = kPrefix;
    Config r = PerplexityEvaluator(o).score(model, nullptr, docs, 4);
    int64_t count = 0;
    double lp = 0;
    for (const Document& d : docs) lp += rolling_reference(model, d.tokens, kPrefix, L, &count);
    EXPECT_EQ(r.at("tokens").as_int(), count);
    EXPECT_EQ(count, 3 + 8 + 9 + 17 + 30 + 1 + 24);  // every token, each once
    expect_rel_near(r.at("nll").as_number(), -lp, "L = " + std::to_string(L));
    expect_rel_near(r.at("token_perplexity").as_number(), std::exp(-lp / double(count)),
                    "token perplexity");
    EXPECT_EQ(r.at("method").as_string(), "rolling");
    EXPECT_EQ(r.at("context").as_int(), L);
    EXPECT_EQ(r.at("prefix").as_string(), "token");
    EXPECT_EQ(r.at("prefix_token").as_int(), kPrefix);
  }
}

// The windowing shows in the score: the same documents scored as one long window (were the
// context unlimited) give a different number, so the test above is not blind to windows.
TEST(Perplexity, WindowsChangeTheScoreOfThePositionalModel) {
  PositionalBigramModel model(kV, 64);
  std::vector<Document> docs = random_documents({30}, kV - 1);
  PerplexityOptions small, large;
  small.context = 8, small.prefix_token = kPrefix;
  large.context = 64, large.prefix_token = kPrefix;
  const double a = PerplexityEvaluator(small).score(model, nullptr, docs, 1).at("nll").as_number();
  const double b = PerplexityEvaluator(large).score(model, nullptr, docs, 1).at("nll").as_number();
  EXPECT_GT(std::abs(a - b), 1e-3);
}

TEST(Perplexity, StridedEqualsTheSumOverTheDocumentedWindows) {
  PositionalBigramModel model(kV, kContext);
  std::vector<Document> docs = random_documents(kLengths, kV - 1);
  for (std::optional<int64_t> stride : {std::optional<int64_t>(), std::optional<int64_t>(1),
                                        std::optional<int64_t>(3), std::optional<int64_t>(7)}) {
    PerplexityOptions o;
    o.method = PerplexityMethod::strided;
    o.stride = stride;
    o.prefix_token = kPrefix;
    Config r = PerplexityEvaluator(o).score(model, nullptr, docs, 3);
    const int64_t S = stride.value_or(kContext / 2);
    int64_t count = 0;
    double lp = 0;
    for (const Document& d : docs)
      lp += strided_reference(model, d.tokens, kPrefix, kContext, S, &count);
    EXPECT_EQ(r.at("tokens").as_int(), count);
    expect_rel_near(r.at("nll").as_number(), -lp, "stride " + std::to_string(S));
    EXPECT_EQ(r.at("method").as_string(), "strided");
    EXPECT_EQ(r.at("stride").as_int(), S);
  }
}

TEST(Perplexity, WithoutAPrefixTheFirstTokenIsContextOnly) {
  PositionalBigramModel model(kV, kContext);
  std::vector<Document> docs = random_documents(kLengths, kV - 1);
  for (PerplexityMethod method : {PerplexityMethod::rolling, PerplexityMethod::strided}) {
    PerplexityOptions o;
    o.method = method;
    o.prefix = "none";
    Config r = PerplexityEvaluator(o).score(model, nullptr, docs, 8);
    int64_t count = 0;
    double lp = 0;
    for (const Document& d : docs)
      lp += method == PerplexityMethod::rolling
                ? rolling_reference(model, d.tokens, std::nullopt, kContext, &count)
                : strided_reference(model, d.tokens, std::nullopt, kContext, 4, &count);
    EXPECT_EQ(count, 3 + 8 + 9 + 17 + 30 + 1 + 24 - 7);
    EXPECT_EQ(r.at("tokens").as_int(), count);
    expect_rel_near(r.at("nll").as_number(), -lp, "no prefix");
    EXPECT_EQ(r.at("prefix").as_string(), "none");
    EXPECT_FALSE(r.has("prefix_token"));
  }
}

TEST(Perplexity, IdenticalForBatchSizes1_8_32) {
  PositionalBigramModel model(kV, kContext);
  std::vector<Document> docs =
      random_documents({3, 8, 9, 17, 30, 1, 24, 50, 2, 16, 33, 5, 70}, kV - 1, 5);
  for (PerplexityMethod method : {PerplexityMethod::rolling, PerplexityMethod::strided}) {
    PerplexityOptions o;
    o.method = method;
    o.prefix_token = kPrefix;
    PerplexityEvaluator ev(o);
    model.forwards = 0;
    Config r1 = ev.score(model, nullptr, docs, 1);
    const int forwards1 = model.forwards;
    model.forwards = 0;
    Config r8 = ev.score(model, nullptr, docs, 8);
    const int forwards8 = model.forwards;
    Config r32 = ev.score(model, nullptr, docs, 32);
    EXPECT_EQ(forwards1, r1.at("windows").as_int());  // one window a pass
    EXPECT_LT(forwards8, forwards1);                  // batched
    EXPECT_EQ(r1, r8) << r1.to_json() << "\n" << r8.to_json();
    EXPECT_EQ(r1, r32) << r1.to_json() << "\n" << r32.to_json();
  }
}

// The same with kiln's own kernels (embedding, linear, fused causal attention). In f64 the GEMM
// sums over k in order and attention is tiled from key 0, so a row scores the same whatever
// the rows batched with it and the padding after it. In f32, oneDNN's matmul picks its kernel
// and blocking by the total row count M = B * T, so the engine runs the model under
// ops::BatchInvariant (fixed blocks of rows): the results are identical too.
void expect_identical_for_batch_sizes(DType dtype) {
  TinyAttentionModel model(kV, 16, dtype);
  std::vector<Document> docs =
      random_documents({3, 16, 17, 40, 1, 24, 50, 2, 33, 5, 70, 9, 12}, kV - 1, 9);
  for (PerplexityMethod method : {PerplexityMethod::rolling, PerplexityMethod::strided}) {
    PerplexityOptions o;
    o.method = method;
    o.prefix_token = kPrefix;
    PerplexityEvaluator ev(o);
    Config r1 = ev.score(model, nullptr, docs, 1);
    Config r8 = ev.score(model, nullptr, docs, 8);
    Config r32 = ev.score(model, nullptr, docs, 32);
    EXPECT_EQ(r1, r8) << dtype_name(dtype) << "\n" << r1.to_json() << "\n" << r8.to_json();
    EXPECT_EQ(r1, r32) << dtype_name(dtype) << "\n" << r1.to_json() << "\n" << r32.to_json();
  }
}

TEST(Perplexity, IdenticalForBatchSizes1_8_32WithKernelModelInF64) {
  expect_identical_for_batch_sizes(DType::f64);
}

TEST(Perplexity, IdenticalForBatchSizes1_8_32WithKernelModelInF32) {
  expect_identical_for_batch_sizes(DType::f32);
}

// Two documents: "héllo wörld" (13 UTF-8 bytes, 2 words) and "  a\tb\n" (6 bytes;
// re.split(r"\s+") gives ['', 'a', 'b', ''], 4 words). Byte tokens, uniform model over 257.
const std::string kDoc1 = "h\xc3\xa9llo w\xc3\xb6rld", kDoc2 = "  a\tb\n";

void expect_hand_computed(const Config& r, bool with_prefix) {
  // With EOS as prefix every byte is scored: 19 tokens; without, each document's first is not.
  const double tokens = with_prefix ? 19 : 17, bytes = 19, words = 6, lnV = std::log(257.0);
  EXPECT_EQ(r.at("documents").as_int(), 2);
  EXPECT_EQ(r.at("tokens").as_int(), int64_t(tokens));
  EXPECT_EQ(r.at("bytes").as_int(), 19);
  EXPECT_EQ(r.at("words").as_int(), 6);
  expect_rel_near(r.at("nll").as_number(), tokens * lnV, "nll");
  expect_rel_near(r.at("nll_per_token").as_number(), lnV, "nll per token");
  expect_rel_near(r.at("token_perplexity").as_number(), 257.0, "token perplexity");
  expect_rel_near(r.at("bits_per_byte").as_number(), tokens * std::log2(257.0) / bytes,
                  "bits per byte");
  expect_rel_near(r.at("byte_perplexity").as_number(), std::pow(257.0, tokens / bytes),
                  "byte perplexity");
  expect_rel_near(r.at("word_perplexity").as_number(), std::pow(257.0, tokens / words),
                  "word perplexity");
}

TEST(Perplexity, BitsPerByteAndWordPerplexityByHand) {
  UniformModel model(257, 4);
  ByteTokenizer tok;
  std::vector<Document> docs = {{tok.encode(kDoc1, false), kDoc1},
                                {tok.encode(kDoc2, false), kDoc2}};
  PerplexityOptions with, without;
  without.prefix = "none";
  Config r = PerplexityEvaluator(with).score(model, &tok, docs, 8);
  expect_hand_computed(r, true);
  EXPECT_EQ(r.at("prefix").as_string(), "eos");  // auto: the tokenizer has one
  EXPECT_EQ(r.at("prefix_token").as_int(), 256);
  EXPECT_NE(r.at("bos_eos").as_string().find("conditioned on EOS (id 256"), std::string::npos);
  expect_hand_computed(PerplexityEvaluator(without).score(model, &tok, docs, 8), false);
}

TEST(Perplexity, ScoresTheValSplitCutAtEos) {
  UniformModel model(257, 4);
  auto tok = std::make_shared<ByteTokenizer>();
  Tokens val = {256};
  for (const std::string& d : {kDoc1, kDoc2}) {
    Tokens t = tok->encode(d, false);
    val.insert(val.end(), t.begin(), t.end());
    val.push_back(256);
  }
  val.push_back(256);  // an empty document is skipped
  FixedDataset data(tok, val);
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = tok;
  ctx.dataset = &data;
  ctx.progress = false;
  PerplexityEvaluator ev{PerplexityOptions{}};
  EXPECT_TRUE(ev.needs_dataset());
  Config r = ev.evaluate(ctx);
  expect_hand_computed(r, true);
  EXPECT_EQ(r.at("source").as_string(), "val split");

  PerplexityOptions one;
  one.limit = 1;
  EXPECT_EQ(PerplexityEvaluator(one).evaluate(ctx).at("tokens").as_int(), 13);
}

class PerplexityFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("kiln_ppl_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name, std::ios::binary) << text;
    return (dir_ / name).string();
  }
  std::filesystem::path dir_;
};

TEST_F(PerplexityFiles, ReadsAFileOrAGlobOneDocumentAFile) {
  write("b.txt", kDoc2);
  write("a.txt", kDoc1);
  write("c.md", "not matched");
  UniformModel model(257, 4);
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = std::make_shared<ByteTokenizer>();
  ctx.progress = false;
  PerplexityOptions o;
  o.path = (dir_ / "*.txt").string();
  EXPECT_FALSE(PerplexityEvaluator(o).needs_dataset());
  Config r = PerplexityEvaluator(o).evaluate(ctx);
  expect_hand_computed(r, true);
  EXPECT_EQ(r.at("source").as_string(), o.path);

  o.path = (dir_ / "a.txt").string();
  EXPECT_EQ(PerplexityEvaluator(o).evaluate(ctx).at("bytes").as_int(), 13);
}

// Message of the kiln::Error that f throws.
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST_F(PerplexityFiles, EmptyTextErrors) {
  UniformModel model(257, 4);
  auto tok = std::make_shared<ByteTokenizer>();
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = tok;
  ctx.progress = false;
  PerplexityOptions o;
  o.path = write("empty.txt", "");
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(o).evaluate(ctx);
            }).find("empty.txt is empty: nothing to score"),
            std::string::npos);
  o.path = (dir_ / "none*.txt").string();
  EXPECT_NE(error_of([&] { PerplexityEvaluator(o).evaluate(ctx); }).find("no file matches"),
            std::string::npos);
  o.path = (dir_ / "missing.txt").string();
  EXPECT_NE(
      error_of([&] { PerplexityEvaluator(o).evaluate(ctx); }).find("missing.txt: no such file"),
      std::string::npos);

  // An empty val split, or one of separators only.
  for (Tokens val : {Tokens{}, Tokens{256, 256}}) {
    FixedDataset data(tok, val);
    ctx.dataset = &data;
    std::string e = error_of([&] { PerplexityEvaluator(PerplexityOptions{}).evaluate(ctx); });
    EXPECT_TRUE(e.find("the val split is empty") != std::string::npos ||
                e.find("no documents to score (val split)") != std::string::npos)
        << e;
  }
  // No dataset at all.
  ctx.dataset = nullptr;
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(PerplexityOptions{}).evaluate(ctx);
            }).find("no held-out text"),
            std::string::npos);

  PerplexityEvaluator ev{PerplexityOptions{}};
  EXPECT_NE(error_of([&] { ev.score(model, tok.get(), {}, 1); }).find("no documents to score"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              ev.score(model, tok.get(), {Document{}}, 1);
            }).find("document 0 of documents is empty"),
            std::string::npos);
  // One-token documents without a prefix leave nothing to score.
  PerplexityOptions none;
  none.prefix = "none";
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(none).score(model, tok.get(), {{{65}, "A"}}, 1);
            }).find("no token to score"),
            std::string::npos);
}

TEST(Perplexity, ContextBelowTwoOrAboveTheModelsErrors) {
  PerplexityOptions o;
  o.context = 1;
  EXPECT_NE(error_of([&] { PerplexityEvaluator{o}; }).find("context must be >= 2 tokens, got 1"),
            std::string::npos);
  std::vector<Document> docs = random_documents({5}, kV - 1);
  UniformModel tiny(kV, 1);  // a model whose own context is 1
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(PerplexityOptions{}).score(tiny, nullptr, docs, 1);
            }).find("context must lie in [2, 1] (the model's context length), got 1"),
            std::string::npos);
  o.context = 9;
  UniformModel model(kV, 8);
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(o).score(model, nullptr, docs, 1);
            }).find("context must lie in [2, 8] (the model's context length), got 9"),
            std::string::npos);
}

TEST(Perplexity, BadStrideOrPrefixErrors) {
  std::vector<Document> docs = random_documents({5}, kV - 1);
  UniformModel model(kV, 8);
  PerplexityOptions o;
  o.method = PerplexityMethod::strided;
  o.stride = 8;
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(o).score(model, nullptr, docs, 1);
            }).find("stride must lie in [1, 7] (context - 1), got 8"),
            std::string::npos);
  PerplexityOptions r;
  r.stride = 2;  // method rolling
  EXPECT_NE(
      error_of([&] { PerplexityEvaluator{r}; }).find("stride applies to method = \"strided\" only"),
      std::string::npos);
  PerplexityOptions eos;
  eos.prefix = "eos";
  ByteTokenizer no_eos(false);
  UniformModel byte_model(257, 8);
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(eos).score(byte_model, &no_eos, {{{65, 66}, "AB"}}, 1);
            }).find("the tokenizer has no end-of-text token"),
            std::string::npos);
  PerplexityOptions big;
  big.prefix_token = 99;
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(big).score(model, nullptr, docs, 1);
            }).find("prefix token 99 is outside the model's vocabulary [0, 13)"),
            std::string::npos);
  ByteTokenizer tok;
  EXPECT_NE(error_of([&] {
              PerplexityEvaluator(PerplexityOptions{}).score(model, &tok, docs, 1);
            }).find("the tokenizer's vocabulary (257) is larger than the model's (13)"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::evaluators
