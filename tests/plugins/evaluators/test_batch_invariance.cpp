// Acceptance 5 with a real model: the GPT-2 decoder of models/gpt2.lua (layer norm, fused
// causal attention, tanh GELU MLP, biases, tied head; kiln_layers loaded as a spec loads it) at a
// tiny size, in f32. Log-likelihoods, perplexity and greedy generations are bit for bit the same
// at batch sizes 1, 8 and 32, requests of many lengths being padded differently in each (on the
// right for scoring, on the left for generation).
#include <gtest/gtest.h>

#include <random>

#include "core/eval/generate_until.h"
#include "core/eval/loglikelihood.h"
#include "core/registry/registry.h"
#include "dsl/spec.h"
#include "plugins/evaluators/perplexity.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

std::shared_ptr<nn::Model> tiny_gpt2(int64_t context = 64) {
  const std::string spec = std::string(KILN_SOURCE_DIR) + "/tests/plugins/evaluators/gpt2_tiny.lua";
  dsl::SpecOptions so;
  so.overrides = {"model.context=" + std::to_string(context)};
  auto model = Registry::global().create<nn::Model>(dsl::load_spec(spec, so).at("model"));
  EXPECT_EQ(model->parameters().front().dtype(), DType::f32);
  return model;
}

TEST(BatchInvariance, Gpt2LoglikelihoodIdenticalForBatchSizes1_8_32) {
  std::shared_ptr<nn::Model> model = tiny_gpt2();
  std::mt19937 rng(3);
  std::uniform_int_distribution<int32_t> tok(0, 256);
  std::vector<eval::LoglikelihoodRequest> reqs;
  for (int i = 0; i < 80; ++i) {
    eval::LoglikelihoodRequest q;
    const int n = 1 + int(rng() % 90), k = 1 + int(rng() % 8);  // some cut to the context (64)
    for (int t = 0; t < n; ++t) q.context.push_back(tok(rng));
    for (int t = 0; t < k; ++t) q.continuation.push_back(tok(rng));
    reqs.push_back(q);
  }
  eval::LoglikelihoodOptions o;
  o.token_logprobs = true;
  o.batch_size = 1;
  const std::vector<eval::LoglikelihoodResult> r1 = eval::loglikelihood(*model, reqs, o);
  for (int64_t batch : {8, 32}) {
    o.batch_size = batch;
    const std::vector<eval::LoglikelihoodResult> rb = eval::loglikelihood(*model, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(r1[i].logprob, rb[i].logprob) << "request " << i << " batch " << batch;
      EXPECT_EQ(r1[i].greedy, rb[i].greedy) << "request " << i << " batch " << batch;
      EXPECT_EQ(r1[i].token_logprobs, rb[i].token_logprobs) << "request " << i;
    }
  }
}

TEST(BatchInvariance, Gpt2PerplexityIdenticalForBatchSizes1_8_32) {
  std::shared_ptr<nn::Model> model = tiny_gpt2();
  std::mt19937_64 rng(5);
  std::uniform_int_distribution<int32_t> tok(0, 255);
  std::vector<Document> docs;
  for (int n : {3, 64, 65, 130, 1, 90, 200, 2, 33, 7, 150, 64, 12}) {
    Document d;
    for (int i = 0; i < n; ++i) d.tokens.push_back(tok(rng));
    d.text = std::string(size_t(n), 'x');
    docs.push_back(std::move(d));
  }
  for (PerplexityMethod method : {PerplexityMethod::rolling, PerplexityMethod::strided}) {
    PerplexityOptions o;
    o.method = method;
    o.prefix_token = 256;
    PerplexityEvaluator ev(o);
    const Config r1 = ev.score(*model, nullptr, docs, 1);
    EXPECT_EQ(r1, ev.score(*model, nullptr, docs, 8)) << r1.to_json();
    EXPECT_EQ(r1, ev.score(*model, nullptr, docs, 32)) << r1.to_json();
  }
}

// generate_until left-pads each batch's prompts to its longest: the fused attention's key tiles
// (64 keys) start at a row's first real token, so the padding moves nothing (the bits of that
// are held by Attention.LeftPaddedRowEqualsTheRowAloneBitForBit; here the answers). Prompts of
// up to 200 tokens in a context of 256, so that rows span several key tiles.
TEST(BatchInvariance, Gpt2GenerateUntilIdenticalForBatchSizes1_8_32) {
  std::shared_ptr<nn::Model> model = tiny_gpt2(256);
  testing::ByteTokenizer tokenizer;
  std::mt19937 rng(11);
  std::uniform_int_distribution<int32_t> tok(0, 255);
  std::vector<eval::GenerateUntilRequest> reqs;
  for (int i = 0; i < 40; ++i) {
    eval::GenerateUntilRequest q;
    const int n = 1 + int(rng() % 200);
    for (int t = 0; t < n; ++t) q.context.push_back(tok(rng));
    q.max_tokens = 12;
    reqs.push_back(q);
  }
  eval::GenerateUntilOptions o;
  o.stop_at_eos = false;
  o.batch_size = 1;
  const std::vector<eval::GenerateUntilResult> r1 =
      eval::generate_until(*model, tokenizer, reqs, o);
  for (int64_t batch : {8, 32}) {
    o.batch_size = batch;
    const std::vector<eval::GenerateUntilResult> rb =
        eval::generate_until(*model, tokenizer, reqs, o);
    for (size_t i = 0; i < reqs.size(); ++i) {
      EXPECT_EQ(r1[i].tokens, rb[i].tokens) << "request " << i << " batch " << batch;
      EXPECT_EQ(r1[i].text, rb[i].text) << "request " << i << " batch " << batch;
    }
  }
}

}  // namespace
}  // namespace kiln::evaluators
