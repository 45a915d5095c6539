// Rolling and strided windows: the worked examples of core/eval/windows.h, lm-evaluation-harness's
// own golden windows, and coverage of every token exactly once.
#include <gtest/gtest.h>

#include <numeric>

#include "core/eval/windows.h"

namespace kiln::eval {
namespace {

using Tokens = std::vector<int32_t>;

Tokens range(int32_t from, int32_t to) {  // [from, to)
  Tokens t(size_t(to - from));
  std::iota(t.begin(), t.end(), from);
  return t;
}

void expect_windows(const std::vector<LoglikelihoodRequest>& got,
                    const std::vector<std::pair<Tokens, Tokens>>& want) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(got[i].context, want[i].first) << "window " << i;
    EXPECT_EQ(got[i].continuation, want[i].second) << "window " << i;
  }
}

// lm-evaluation-harness tests/test_utils.py, test_get_rolling_token_windows_v1: 34 tokens,
// max_seq_len 10, context_len 1, prefix -100; the pairs after make_disjoint_window.
TEST(RollingWindows, MatchLmEvaluationHarnessGolden) {
  Tokens x = range(0, 34);
  expect_windows(rolling_windows(x, -100, 10), {{{-100}, range(0, 10)},
                                                {{9}, range(10, 20)},
                                                {{19}, range(20, 30)},
                                                {range(23, 30), range(30, 34)}});
}

TEST(RollingWindows, WorkedExampleOfTheHeader) {
  // L = 4, t0..t9 (ids 0..9), prefix p = 99.
  expect_windows(rolling_windows(range(0, 10), 99, 4),
                 {{{99}, {0, 1, 2, 3}}, {{3}, {4, 5, 6, 7}}, {{5, 6, 7}, {8, 9}}});
}

TEST(RollingWindows, ShortDocumentIsOneWindow) {
  expect_windows(rolling_windows(Tokens{5, 6, 7}, 0, 8), {{{0}, {5, 6, 7}}});
  expect_windows(rolling_windows(Tokens{5, 6, 7}, std::nullopt, 8), {{{5}, {6, 7}}});
  EXPECT_TRUE(rolling_windows(Tokens{5}, std::nullopt, 8).empty());
  EXPECT_TRUE(rolling_windows(Tokens{}, 0, 8).empty());
}

// Every token predicted once, in order; each window's context + continuation is the run of
// tokens of [prefix] + doc that ends at its last prediction, and the model reads L tokens or
// fewer. Checked over many lengths.
TEST(RollingWindows, CoverEveryTokenExactlyOnce) {
  for (bool with_prefix : {true, false})
    for (int64_t L : {1, 2, 3, 4, 7, 16})
      for (int32_t n = 0; n <= 40; ++n) {
        Tokens doc = range(0, n);
        Tokens s = with_prefix ? Tokens{-1} : Tokens{};
        s.insert(s.end(), doc.begin(), doc.end());
        std::vector<LoglikelihoodRequest> w =
            rolling_windows(doc, with_prefix ? std::optional<int32_t>(-1) : std::nullopt, L);
        Tokens predicted;
        for (size_t i = 0; i < w.size(); ++i) {
          const auto& r = w[i];
          ASSERT_FALSE(r.context.empty());
          ASSERT_FALSE(r.continuation.empty());
          ASSERT_LE(int64_t(r.continuation.size()), L);
          ASSERT_LE(int64_t(r.context.size() + r.continuation.size()), L + 1);
          // A full window after the first conditions on exactly one earlier token.
          if (i > 0 && int64_t(r.continuation.size()) == L) {
            EXPECT_EQ(r.context.size(), 1u);
          }
          // The last, short window reads L tokens.
          if (i > 0 && int64_t(r.continuation.size()) < L) {
            EXPECT_EQ(int64_t(r.context.size() + r.continuation.size()), L + 1);
          }
          const size_t end =
              predicted.size() + 1 + r.continuation.size();  // s[0] is never predicted
          Tokens run(s.begin() + long(end - r.context.size() - r.continuation.size()),
                     s.begin() + long(end));
          Tokens joined(r.context);
          joined.insert(joined.end(), r.continuation.begin(), r.continuation.end());
          EXPECT_EQ(joined, run) << "n " << n << " L " << L << " window " << i;
          predicted.insert(predicted.end(), r.continuation.begin(), r.continuation.end());
        }
        EXPECT_EQ(predicted, Tokens(s.begin() + (s.empty() ? 0 : 1), s.end()))
            << "n " << n << " L " << L;
      }
}

TEST(StridedWindows, WorkedExampleOfTheHeader) {
  // L = 4, S = 2, s = p t0..t5 with p = 99, t_i = i.
  expect_windows(strided_windows(range(0, 6), 99, 4, 2),
                 {{{99}, {0, 1, 2}}, {{1, 2}, {3, 4}}, {{3, 4}, {5}}});
}

// The Hugging Face guide's loop, written out: window k covers s[kS, min(kS + L, |s|)) and
// scores what window k - 1 did not reach, so every token of s but the first is scored once,
// later windows score S tokens (fewer at the end) and begin exactly at kS.
TEST(StridedWindows, CoverEveryTokenOnceAndScoreTheLastStride) {
  for (bool with_prefix : {true, false})
    for (int64_t L : {2, 3, 4, 8, 11})
      for (int64_t S = 1; S < L; ++S)
        for (int32_t n = 0; n <= 30; ++n) {
          Tokens doc = range(0, n);
          Tokens s = with_prefix ? Tokens{-1} : Tokens{};
          s.insert(s.end(), doc.begin(), doc.end());
          auto w =
              strided_windows(doc, with_prefix ? std::optional<int32_t>(-1) : std::nullopt, L, S);
          Tokens predicted;
          size_t scored_end = 1;  // s[0] is never scored
          for (size_t k = 0; k < w.size(); ++k) {
            const auto& r = w[k];
            ASSERT_FALSE(r.context.empty());
            const int64_t begin = int64_t(k) * S;
            const int64_t end = std::min<int64_t>(begin + L, int64_t(s.size()));
            EXPECT_EQ(int64_t(r.context.size() + r.continuation.size()), end - begin)
                << "window " << k;
            EXPECT_EQ(r.context, Tokens(s.begin() + begin, s.begin() + long(scored_end)))
                << "window " << k;
            if (k > 0 && end < int64_t(s.size())) {
              EXPECT_EQ(int64_t(r.continuation.size()), S) << "window " << k;
            }
            predicted.insert(predicted.end(), r.continuation.begin(), r.continuation.end());
            scored_end = size_t(end);
          }
          EXPECT_EQ(predicted, Tokens(s.begin() + (s.empty() ? 0 : 1), s.end()))
              << "n " << n << " L " << L << " S " << S;
        }
}

TEST(StridedWindows, BadStrideOrLengthErrors) {
  Tokens doc = range(0, 10);
  try {
    strided_windows(doc, 0, 4, 4);
    FAIL() << "stride = max_length accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("stride must lie in [1, max_length - 1] = [1, 3], got 4"),
              std::string::npos)
        << e.what();
  }
  EXPECT_THROW(strided_windows(doc, 0, 4, 0), Error);
  EXPECT_THROW(strided_windows(doc, 0, 1, 1), Error);
  EXPECT_THROW(rolling_windows(doc, 0, 0), Error);
}

}  // namespace
}  // namespace kiln::eval
