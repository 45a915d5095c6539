// The request engine's loglikelihood on the closed-form positional bigram model.
#include <gtest/gtest.h>

#include "core/eval/loglikelihood.h"
#include "core/eval/windows.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::eval {
namespace {

using evaluators::testing::PositionalBigramModel;
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

}  // namespace
}  // namespace kiln::eval
