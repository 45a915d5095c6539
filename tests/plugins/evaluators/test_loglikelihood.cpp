// The request engine's loglikelihood on the closed-form positional bigram model.
#include <gtest/gtest.h>

#include "core/eval/loglikelihood.h"
#include "core/eval/windows.h"
#include "tests/plugins/evaluators/test_models.h"

#include <random>

namespace kiln::eval {
namespace {

using evaluators::testing::ByteTokenizer;
using evaluators::testing::PositionalBigramModel;
using evaluators::testing::TinyAttentionModel;
using evaluators::testing::UniformModel;
using Tokens = std::vector<int32_t>;

template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// The greedy continuation of a context read from position 0, from the model's definition.
Tokens greedy_by_hand(const PositionalBigramModel& m, const Tokens& context, int n) {
  Tokens all = context;
  for (int i = 0; i < n; ++i) {
    const int64_t pos = int64_t(all.size()) - 1;
    int32_t best = 0;
    for (int32_t v = 1; v < m.vocab_size(); ++v)
      if (m.logprob(all.back(), pos, v) > m.logprob(all.back(), pos, best)) best = v;
    all.push_back(best);
  }
  return Tokens(all.begin() + long(context.size()), all.end());
}

TEST(Loglikelihood, SumsContinuationLogprobsAndTellsGreedy) {
  PositionalBigramModel m(7, 16);
  const Tokens ctx = {3, 1, 4};
  const Tokens greedy = greedy_by_hand(m, ctx, 4);
  Tokens other = greedy;
  other[2] = (other[2] + 1) % 7;
  LoglikelihoodOptions o;
  o.token_logprobs = true;
  std::vector<LoglikelihoodResult> r =
      loglikelihood(m, {{ctx, greedy}, {ctx, other}, {{5}, {2}}}, o);
  ASSERT_EQ(r.size(), 3u);
  for (int k = 0; k < 2; ++k) {
    const Tokens& cont = k == 0 ? greedy : other;
    Tokens all = ctx;
    all.insert(all.end(), cont.begin(), cont.end());
    double sum = 0;
    for (size_t j = 0; j < cont.size(); ++j) {
      const size_t at = ctx.size() + j;  // all[at] is read at position at - 1
      const double lp = m.logprob(all[at - 1], int64_t(at - 1), all[at]);
      EXPECT_NEAR(r[size_t(k)].token_logprobs[j], lp, 1e-12);
      sum += lp;
    }
    EXPECT_NEAR(r[size_t(k)].logprob, sum, 1e-12);
  }
  EXPECT_TRUE(r[0].greedy);
  EXPECT_FALSE(r[1].greedy);
  EXPECT_NEAR(r[2].logprob, m.logprob(5, 0, 2), 1e-12);
}

// A context longer than fits is cut from the left: the model reads the last max_length
// tokens before the final one.
TEST(Loglikelihood, CutsALongContextFromTheLeft) {
  PositionalBigramModel m(7, 5);
  const Tokens ctx = {0, 1, 2, 3, 4, 5, 6, 0, 1, 2}, cont = {6, 3};
  std::vector<LoglikelihoodResult> r = loglikelihood(m, {{ctx, cont}});
  // ctx + cont is 12 tokens; the last max_length + 1 = 6 are 6 0 1 2 6 3, and the model reads
  // 6 0 1 2 6: cont[0] = 6 at position 3 after 2, cont[1] = 3 at position 4 after 6.
  EXPECT_NEAR(r[0].logprob, m.logprob(2, 3, 6) + m.logprob(6, 4, 3), 1e-12);
}

TEST(Loglikelihood, RollingSumsItsWindows) {
  PositionalBigramModel m(7, 4);
  const Tokens doc = {1, 2, 3, 4, 5, 6, 0, 1, 2, 3};
  RollingResult r = loglikelihood_rolling(m, doc, 6);
  // Windows of the header's worked example (L = 4): p t0 t1 t2 -> t0..t3; t3..t6 -> t4..t7;
  // t5..t8 -> t8 t9.
  double want = m.logprob(6, 0, 1) + m.logprob(1, 1, 2) + m.logprob(2, 2, 3) + m.logprob(3, 3, 4);
  want += m.logprob(4, 0, 5) + m.logprob(5, 1, 6) + m.logprob(6, 2, 0) + m.logprob(0, 3, 1);
  want += m.logprob(1, 2, 2) + m.logprob(2, 3, 3);
  EXPECT_NEAR(r.logprob, want, 1e-12);
  EXPECT_EQ(r.tokens, 10);
}

TEST(Loglikelihood, RestoresTheTrainingModeAndRecordsNoGradient) {
  PositionalBigramModel m(7, 4);
  m.train();
  loglikelihood(m, {{{1}, {2}}});
  EXPECT_TRUE(m.is_training());
  m.eval();
  loglikelihood(m, {{{1}, {2}}});
  EXPECT_FALSE(m.is_training());
}

TEST(Loglikelihood, BadRequestsError) {
  PositionalBigramModel m(7, 4);
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {2}}, {{}, {2}}});
            }).find("request 1 has an empty context"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {}}});
            }).find("request 0 has an empty continuation"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {1, 2, 3, 4, 5}}});
            }).find("continuation of 5 tokens, more than the 4 a forward pass reads"),
            std::string::npos);
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {7}}});
            }).find("holds token 7, outside the model's vocabulary [0, 7)"),
            std::string::npos);
  LoglikelihoodOptions o;
  o.batch_size = 0;
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {2}}}, o);
            }).find("batch size must be >= 1"),
            std::string::npos);
  o.batch_size = 1;
  o.max_length = 5;
  EXPECT_NE(error_of([&] {
              loglikelihood(m, {{{1}, {2}}}, o);
            }).find("max_length 5 must lie in [1, 4]"),
            std::string::npos);
}

// Requests that make the model read the same tokens share one forward row, and each still
// gets its own score.
TEST(Loglikelihood, RequestsReadingTheSameTokensShareARow) {
  PositionalBigramModel m(7, 16);
  const Tokens ctx = {3, 1, 4};
  LoglikelihoodOptions o;
  o.batch_size = 1;
  // {ctx, [a]} for a = 0..3, and {ctx + [5], [2]} / {ctx, [5, 2]}: the same input 3 1 4 (5).
  std::vector<LoglikelihoodRequest> reqs = {{ctx, {0}}, {ctx, {1}},          {ctx, {2}},
                                            {ctx, {3}}, {{3, 1, 4, 5}, {2}}, {ctx, {5, 2}}};
  std::vector<LoglikelihoodResult> r = loglikelihood(m, reqs, o);
  EXPECT_EQ(m.forwards, 2);
  for (int a = 0; a < 4; ++a) EXPECT_NEAR(r[size_t(a)].logprob, m.logprob(4, 2, a), 1e-12);
  EXPECT_NEAR(r[4].logprob, m.logprob(5, 3, 2), 1e-12);
  EXPECT_NEAR(r[5].logprob, m.logprob(4, 2, 5) + m.logprob(5, 3, 2), 1e-12);
}

// is_greedy follows torch.argmax (the harness's): at a tie the first index is the greedy one.
TEST(Loglikelihood, GreedyTiesGoToTheFirstToken) {
  UniformModel m(5, 8);
  std::vector<LoglikelihoodResult> r = loglikelihood(m, {{{1}, {0}}, {{1}, {3}}, {{1}, {0, 0}}});
  EXPECT_TRUE(r[0].greedy);
  EXPECT_FALSE(r[1].greedy);
  EXPECT_TRUE(r[2].greedy);
  EXPECT_NEAR(r[1].logprob, -std::log(5.0), 1e-12);
}

// Acceptance 5 at the engine: requests of many lengths (so padding differs from batch to batch)
// on a model of real kernels in f64 and in f32 (run batch-invariant: ops::BatchInvariant) and on
// the closed-form model score bit for bit the same at batch sizes 1, 8 and 32.
TEST(Loglikelihood, IdenticalForBatchSizes1_8_32) {
  std::mt19937 rng(5);
  std::uniform_int_distribution<int32_t> tok(0, 12);
  std::vector<LoglikelihoodRequest> reqs;
  for (int i = 0; i < 70; ++i) {
    LoglikelihoodRequest q;
    const int n = 1 + int(rng() % 20), k = 1 + int(rng() % 6);
    for (int t = 0; t < n; ++t) q.context.push_back(tok(rng));
    for (int t = 0; t < k; ++t) q.continuation.push_back(tok(rng));
    reqs.push_back(q);
    if (i % 5 == 0) reqs.push_back({q.context, {tok(rng)}});  // shares a row with others
  }
  TinyAttentionModel kernel(13, 16, DType::f64), kernel32(13, 16, DType::f32);
  PositionalBigramModel bigram(13, 16);
  for (nn::Model* m : std::initializer_list<nn::Model*>{&kernel, &kernel32, &bigram}) {
    LoglikelihoodOptions o;
    o.token_logprobs = true;
    o.batch_size = 1;
    const std::vector<LoglikelihoodResult> r1 = loglikelihood(*m, reqs, o);
    for (int64_t batch : {8, 32}) {
      o.batch_size = batch;
      const std::vector<LoglikelihoodResult> rb = loglikelihood(*m, reqs, o);
      for (size_t i = 0; i < reqs.size(); ++i) {
        EXPECT_EQ(r1[i].logprob, rb[i].logprob) << "request " << i << " batch " << batch;
        EXPECT_EQ(r1[i].greedy, rb[i].greedy) << "request " << i << " batch " << batch;
        EXPECT_EQ(r1[i].token_logprobs, rb[i].token_logprobs) << i;
      }
    }
  }
}

// Text requests are tokenised as the harness's _encode_pair.
TEST(Loglikelihood, EncodePairMovesTrailingSpaceAndAddsThePrefix) {
  ByteTokenizer tok;
  LoglikelihoodRequest r = encode_pair(tok, "ab \n", "c");
  EXPECT_EQ(r.context, (Tokens{'a', 'b'}));
  EXPECT_EQ(r.continuation, (Tokens{' ', '\n', 'c'}));
  r = encode_pair(tok, "Answer:", " A", 256);
  EXPECT_EQ(r.context, (Tokens{256, 'A', 'n', 's', 'w', 'e', 'r', ':'}));
  EXPECT_EQ(r.continuation, (Tokens{' ', 'A'}));
  r = encode_pair(tok, "", "xy", 256);
  EXPECT_EQ(r.context, (Tokens{256}));
  EXPECT_EQ(r.continuation, (Tokens{'x', 'y'}));
  EXPECT_NE(error_of([&] { encode_pair(tok, "  ", "x"); }).find("empty context needs a prefix"),
            std::string::npos);
  EXPECT_NE(error_of([&] { encode_pair(tok, "a", ""); }).find("encodes to no token"),
            std::string::npos);
  std::vector<LoglikelihoodRequest> four = encode_pairs(tok, "Q:", {" A", " B"});
  ASSERT_EQ(four.size(), 2u);
  EXPECT_EQ(four[1].context, (Tokens{'Q', ':'}));
  EXPECT_EQ(four[1].continuation, (Tokens{' ', 'B'}));
}

}  // namespace
}  // namespace kiln::eval
