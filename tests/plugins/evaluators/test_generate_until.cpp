// generate_until: greedy generation against a plain loop over a closed-form model, stop strings
// and EOS, contexts cut from the left, and identical results for batch sizes 1, 8 and 32.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/eval/generate_until.h"
#include "tests/plugins/evaluators/generation_models.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

using testing::ByteTokenizer;
using testing::CachedBigramModel;

struct Expected {
  std::string text;
  int64_t dropped = 0;
  std::string finish;
};

// The reference: the harness's context cut, then one greedy token at a time from the
// definition, checking EOS, the stop strings and the length after each.
Expected reference(const CachedBigramModel& m, const ByteTokenizer& tok,
                   const eval::GenerateUntilRequest& r, int64_t max_length) {
  Expected e;
  const int64_t keep = std::min<int64_t>(int64_t(r.context.size()), max_length - r.max_tokens);
  e.dropped = int64_t(r.context.size()) - keep;
  std::vector<int32_t> seq(r.context.end() - keep, r.context.end());
  std::vector<int32_t> gen;
  for (;;) {
    const int32_t next = m.greedy(seq.back(), int64_t(seq.size()) - 1);
    seq.push_back(next);
    if (next == 256) {
      e.finish = "stop_token";
      e.text = eval::valid_utf8(tok.decode(gen));  // checked on its own below
      return e;
    }
    gen.push_back(next);
    const std::string text = tok.decode(gen);
    size_t cut = std::string::npos;
    for (const std::string& s : r.until) cut = std::min(cut, text.find(s));
    if (cut != std::string::npos) {
      e.finish = "stop";
      e.text = eval::valid_utf8(text.substr(0, cut));
      return e;
    }
    if (int64_t(gen.size()) == r.max_tokens) {
      e.finish = "length";
      e.text = eval::valid_utf8(text);
      return e;
    }
  }
}

std::vector<eval::GenerateUntilRequest> requests_of_many_lengths() {
  std::vector<eval::GenerateUntilRequest> rs;
  std::mt19937_64 rng(5);
  for (int i = 0; i < 40; ++i) {
    eval::GenerateUntilRequest r;
    const int n = 1 + int(rng() % 60);  // some longer than max_length - max_tokens
    for (int k = 0; k < n; ++k) r.context.push_back(int32_t(rng() % 256));
    r.max_tokens = i % 3 == 0 ? 6 : 12;
    rs.push_back(std::move(r));
  }
  return rs;
}

TEST(GenerateUntil, MatchesAGreedyLoopAndIsIdenticalForBatchSizes1_8_32) {
  CachedBigramModel m(257, 64);
  ByteTokenizer tok;
  std::vector<eval::GenerateUntilRequest> rs = requests_of_many_lengths();
  // Stop strings taken from what the model writes without them, so some rows stop early.
  eval::GenerateUntilOptions o;
  o.batch_size = 1;
  const std::vector<eval::GenerateUntilResult> free_run = eval::generate_until(m, tok, rs, o);
  for (size_t i = 0; i < rs.size(); i += 2)
    if (free_run[i].text.size() >= 5) rs[i].until = {free_run[i].text.substr(3, 2), "\x01"};
  int64_t stopped = 0, cut = 0;
  for (int64_t batch : {1, 8, 32}) {
    o.batch_size = batch;
    const std::vector<eval::GenerateUntilResult> got = eval::generate_until(m, tok, rs, o);
    ASSERT_EQ(got.size(), rs.size());
    for (size_t i = 0; i < rs.size(); ++i) {
      const Expected e = reference(m, tok, rs[i], 64);
      EXPECT_EQ(got[i].text, e.text) << "request " << i << " batch " << batch;
      EXPECT_EQ(got[i].finish, e.finish) << "request " << i << " batch " << batch;
      EXPECT_EQ(got[i].context_dropped, e.dropped) << "request " << i;
      if (batch == 1) stopped += e.finish == "stop", cut += e.dropped > 0;
    }
  }
  EXPECT_GT(stopped, 0) << "no request stopped at a stop string: the test checks too little";
  EXPECT_GT(cut, 0) << "no context was cut: the test checks too little";
}

TEST(GenerateUntil, TextGeneratorEncodesAndAddsThePrefix) {
  CachedBigramModel m(257, 64);
  ByteTokenizer tok;
  eval::ModelTextGenerator gen(m, tok, {}, 256);
  const std::vector<std::string> out = gen.generate({{"abc", {}, 5}});
  eval::GenerateUntilRequest r;
  r.context = {256, 'a', 'b', 'c'};
  r.max_tokens = 5;
  EXPECT_EQ(out.at(0), reference(m, tok, r, 64).text);
  EXPECT_EQ(gen.contexts_truncated(), 0);
}

// Ill-formed UTF-8 becomes U+FFFD per maximal subpart, as Python's errors="replace" (the
// expected strings are what CPython 3 gives for these bytes).
TEST(GenerateUntil, AnswersAreValidUtf8) {
  const std::string R = "\xEF\xBF\xBD";
  EXPECT_EQ(eval::valid_utf8("plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80"),
            "plain \xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80");
  EXPECT_EQ(eval::valid_utf8("a\xFF"
                             "b"),
            "a" + R + "b");                    // never a lead byte
  EXPECT_EQ(eval::valid_utf8("\xE2\x82"), R);  // truncated: one U+FFFD
  EXPECT_EQ(eval::valid_utf8("\xE2\x82x"), R + "x");
  EXPECT_EQ(eval::valid_utf8("\xC0\xAF"), R + R);                  // overlong lead
  EXPECT_EQ(eval::valid_utf8("\xED\xA0\x80"), R + R + R);          // a surrogate
  EXPECT_EQ(eval::valid_utf8("\x80\x80"), R + R);                  // stray continuations
  EXPECT_EQ(eval::valid_utf8("\xF4\x90\x80\x80"), R + R + R + R);  // above U+10FFFF
}

TEST(GenerateUntil, BadRequestsError) {
  CachedBigramModel m(257, 16);
  ByteTokenizer tok;
  auto error = [&](eval::GenerateUntilRequest r) {
    try {
      eval::generate_until(m, tok, {r});
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(error({{}, {}, 4}).find("empty context"), std::string::npos);
  EXPECT_NE(error({{1}, {}, 16}).find("asks for 16 new tokens"), std::string::npos);
  EXPECT_NE(error({{300}, {}, 4}).find("outside the model's vocabulary"), std::string::npos);
}

}  // namespace
}  // namespace kiln::evaluators
