// The on-disk request cache: an evaluation interrupted after some requests (simulated by
// evaluating a prefix of them) and run again computes only the others, and gives the results
// of an evaluation without a cache, bit for bit.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/base/error.h"
#include "core/eval/request_cache.h"
#include "tests/plugins/evaluators/generation_models.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;
using testing::ByteTokenizer;
using testing::CachedBigramModel;
using testing::PositionalBigramModel;
using testing::TinyAttentionModel;

class RequestCacheTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("kiln_request_cache_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string file() const { return (dir_ / "run" / "eval_cache.log").string(); }
  fs::path dir_;
};

std::vector<eval::LoglikelihoodRequest> distinct_requests(int n) {
  std::mt19937 rng(9);
  std::vector<eval::LoglikelihoodRequest> reqs;
  for (int i = 0; i < n; ++i) {
    eval::LoglikelihoodRequest q;
    q.context.push_back(12);
    q.context.push_back(i % 12);  // every model input distinct: one forward row each
    for (int t = 0, k = int(rng() % 6); t < k; ++t) q.context.push_back(int32_t(rng() % 12));
    for (int t = 0, k = 1 + int(rng() % 4); t < k; ++t)
      q.continuation.push_back(int32_t(rng() % 13));
    q.context.insert(q.context.begin() + 1, i / 12);
    reqs.push_back(q);
  }
  return reqs;
}

void expect_same(const std::vector<eval::LoglikelihoodResult>& a,
                 const std::vector<eval::LoglikelihoodResult>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    EXPECT_EQ(a[i].logprob, b[i].logprob) << "request " << i;
    EXPECT_EQ(a[i].greedy, b[i].greedy) << "request " << i;
    EXPECT_EQ(a[i].token_logprobs, b[i].token_logprobs) << "request " << i;
  }
}

TEST_F(RequestCacheTest, InterruptedLoglikelihoodResumesWithoutRecomputing) {
  PositionalBigramModel model(13, 16);
  const std::vector<eval::LoglikelihoodRequest> all = distinct_requests(30);
  eval::LoglikelihoodOptions o;
  o.batch_size = 1;  // one forward per request: forwards count the requests computed
  o.token_logprobs = true;
  const std::vector<eval::LoglikelihoodResult> reference = eval::loglikelihood(model, all, o);
  ASSERT_EQ(model.forwards, 30);

  const std::string key = eval::model_fingerprint(model, nullptr);
  {
    eval::RequestCache cache(file(), key);  // the first evaluation stops after 12 requests
    EXPECT_EQ(cache.loaded(), 0);
    o.cache = &cache;
    model.forwards = 0;
    const std::vector<eval::LoglikelihoodRequest> prefix(all.begin(), all.begin() + 12);
    eval::loglikelihood(model, prefix, o);
    EXPECT_EQ(model.forwards, 12);
  }
  eval::RequestCache cache(file(), key);  // a new process reads what the first one wrote
  EXPECT_EQ(cache.loaded(), 12);
  o.cache = &cache;
  model.forwards = 0;
  const std::vector<eval::LoglikelihoodResult> resumed = eval::loglikelihood(model, all, o);
  EXPECT_EQ(model.forwards, 18);
  EXPECT_EQ(cache.hits(), 12);
  expect_same(resumed, reference);
  // Everything is cached now: nothing is computed, and token log-probs are dropped as asked.
  model.forwards = 0;
  o.token_logprobs = false;
  const std::vector<eval::LoglikelihoodResult> again = eval::loglikelihood(model, all, o);
  EXPECT_EQ(model.forwards, 0);
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(again[i].logprob, reference[i].logprob);
    EXPECT_TRUE(again[i].token_logprobs.empty());
  }
}

TEST_F(RequestCacheTest, AnotherModelOrOptionsReadNoAnswer) {
  TinyAttentionModel model(13, 16, DType::f32);
  const std::vector<eval::LoglikelihoodRequest> all = distinct_requests(10);
  const std::string key = eval::model_fingerprint(model, nullptr);
  {
    eval::RequestCache cache(file(), key);
    eval::LoglikelihoodOptions o;
    o.cache = &cache;
    eval::loglikelihood(model, all, o);
  }
  // Other weights: another fingerprint, and no answer of the first model is read.
  TinyAttentionModel other(13, 16, DType::f32, 32, 2, /*seed=*/4);
  const std::string other_key = eval::model_fingerprint(other, nullptr);
  EXPECT_NE(other_key, key);
  EXPECT_EQ(eval::model_fingerprint(model, nullptr), key);  // deterministic
  ByteTokenizer tok;
  EXPECT_NE(eval::model_fingerprint(model, &tok), key);  // the tokenizer counts
  eval::RequestCache cache(file(), other_key);
  EXPECT_EQ(cache.loaded(), 10);  // the file holds them, but under other keys
  eval::LoglikelihoodOptions o;
  o.cache = &cache;
  eval::loglikelihood(other, all, o);
  EXPECT_EQ(cache.hits(), 0);
  // The same model with another max_length asks other questions.
  eval::RequestCache same(file(), key);
  o.cache = &same;
  o.max_length = 8;
  eval::loglikelihood(model, all, o);
  EXPECT_EQ(same.hits(), 0);
  o.max_length = 0;
  eval::loglikelihood(model, all, o);
  EXPECT_EQ(same.hits(), 10);
}

TEST_F(RequestCacheTest, ATornLastLineIsIgnoredAndLaterAnswersStillRead) {
  PositionalBigramModel model(13, 16);
  const std::vector<eval::LoglikelihoodRequest> all = distinct_requests(6);
  const std::string key = eval::model_fingerprint(model, nullptr);
  eval::LoglikelihoodOptions o;
  o.batch_size = 2;
  const std::vector<eval::LoglikelihoodResult> reference = eval::loglikelihood(model, all, o);
  {
    eval::RequestCache cache(file(), key);
    o.cache = &cache;
    eval::loglikelihood(model,
                        std::vector<eval::LoglikelihoodRequest>(all.begin(), all.begin() + 3), o);
  }
  {
    std::ofstream f(file(), std::ios::app | std::ios::binary);
    f << "L 0123abc -0x1.8p+1 1 2 -0x1p";  // a write cut short by a kill: no newline
  }
  {
    eval::RequestCache cache(file(), key);
    EXPECT_EQ(cache.loaded(), 3);
    o.cache = &cache;
    eval::loglikelihood(model, all, o);
    EXPECT_EQ(cache.hits(), 3);
  }
  eval::RequestCache cache(file(), key);
  EXPECT_EQ(cache.loaded(), 6);
  o.cache = &cache;
  model.forwards = 0;
  expect_same(eval::loglikelihood(model, all, o), reference);
  EXPECT_EQ(model.forwards, 0);
}

TEST_F(RequestCacheTest, InterruptedGenerationResumesWithoutRecomputing) {
  CachedBigramModel model(257, 64);
  ByteTokenizer tok;
  std::vector<eval::GenerateUntilRequest> all;
  for (int i = 0; i < 9; ++i) {
    eval::GenerateUntilRequest r;
    for (int k = 0; k <= i; ++k) r.context.push_back(int32_t((7 * i + 13 * k) % 256));
    r.max_tokens = 5;
    r.until = {i % 2 ? "\n" : "zz"};
    all.push_back(r);
  }
  eval::GenerateUntilOptions o;
  o.batch_size = 1;
  const std::vector<eval::GenerateUntilResult> reference = eval::generate_until(model, tok, all, o);
  const std::string key = eval::model_fingerprint(model, &tok);
  {
    eval::RequestCache cache(file(), key);
    o.cache = &cache;
    eval::generate_until(model, tok,
                         std::vector<eval::GenerateUntilRequest>(all.begin(), all.begin() + 4), o);
  }
  eval::RequestCache cache(file(), key);
  EXPECT_EQ(cache.loaded(), 4);
  o.cache = &cache;
  model.forwards = 0;
  const std::vector<eval::GenerateUntilResult> resumed = eval::generate_until(model, tok, all, o);
  EXPECT_EQ(cache.hits(), 4);
  model.forwards = 0;
  eval::generate_until(model, tok, all, o);
  EXPECT_EQ(model.forwards, 0);  // all nine answered from the cache
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(resumed[i].text, reference[i].text) << i;
    EXPECT_EQ(resumed[i].tokens, reference[i].tokens) << i;
    EXPECT_EQ(resumed[i].finish, reference[i].finish) << i;
    EXPECT_EQ(resumed[i].context_dropped, reference[i].context_dropped) << i;
  }
}

}  // namespace
}  // namespace kiln::evaluators
