// The generation API on a model whose logits are known in closed form (a bigram table), and
// the sampling filters (temperature, top-k, top-p) against hand-computed distributions.
#include <cmath>

#include "core/generation/generate.h"
#include "tests/core/test_util.h"

namespace kiln::testing {
namespace {

using generation::FinishReason;
using generation::GenerateOptions;

// Logits of the next token depend only on the current one: row t of `table` [V, V]. Counts
// the forwards and the tokens they were fed, and checks the cache and padding it is given.
class Bigram : public nn::Model {
 public:
  Bigram(Tensor table, int64_t context) : table_(std::move(table)), context_(context) {}
  Tensor forward(const Tensor& tokens, nn::ForwardState& st) override {
    ++calls;
    fed += tokens.size(1);
    if (st.cache) {
      EXPECT_LE(st.cache->length + tokens.size(1), st.cache->capacity);
      st.cache->length += tokens.size(1);
    }
    if (st.key_padding.defined()) last_key_padding = st.key_padding;
    return ops::embedding(table_, tokens);
  }
  int64_t vocab_size() const override { return table_.size(0); }
  int64_t context_length() const override { return context_; }
  nn::KVCache make_cache(int64_t, int64_t capacity) const override {
    nn::KVCache c;
    c.capacity = capacity;
    return c;
  }
  double train_flops_per_token(int64_t) const override { return 0; }

  int calls = 0;
  int64_t fed = 0;
  Tensor last_key_padding;

 private:
  Tensor table_;
  int64_t context_;
};

// next(t) = (t + 1) mod V, with margin: logit 5 for the successor, 0 elsewhere.
Tensor successor_table(int64_t V) {
  std::vector<double> t(size_t(V * V), 0.0);
  for (int64_t i = 0; i < V; ++i) t[size_t(i * V + (i + 1) % V)] = 5.0;
  return from_vector(t, {V, V});
}

// Letters: id i is the character 'a' + i.
class Letters : public data::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(c - 'a');
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s += char('a' + i);
    return s;
  }
  std::string token_bytes(int32_t id) const override { return std::string(1, char('a' + id)); }
  int64_t vocab_size() const override { return 26; }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}
};

TEST(Generate, GreedyFollowsTheTableWithOnePrefillAndOneTokenASteps) {
  Bigram m(successor_table(10), 64);
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 6;
  std::vector<std::pair<int64_t, int32_t>> streamed;
  o.on_token = [&](int64_t row, int32_t tok) { streamed.emplace_back(row, tok); };
  auto out = generation::generate(m, {{1, 2, 3}, {8}}, o);
  ASSERT_EQ(out.size(), 2u);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{4, 5, 6, 7, 8, 9}));
  EXPECT_EQ(out[1].tokens, (std::vector<int32_t>{9, 0, 1, 2, 3, 4}));
  EXPECT_EQ(out[0].finish, FinishReason::length);
  // A prefill of the padded prompts (3 positions), then one position per step.
  EXPECT_EQ(m.calls, 6);
  EXPECT_EQ(m.fed, 3 + 5);
  // The short prompt is left-padded: its first two keys are hidden.
  ASSERT_TRUE(m.last_key_padding.defined());
  EXPECT_EQ(m.last_key_padding.to_vector<bool>(),
            (std::vector<bool>{true, true, true, true, true, true, true, true, false, false, true,
                               true, true, true, true, true}));
  ASSERT_EQ(streamed.size(), 12u);
  EXPECT_EQ(streamed[0], (std::pair<int64_t, int32_t>{0, 4}));
  EXPECT_EQ(streamed[1], (std::pair<int64_t, int32_t>{1, 9}));
}

TEST(Generate, WithoutCacheRecomputesThePrefixAndAgrees) {
  Bigram m(successor_table(10), 64);
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 4;
  o.use_cache = false;
  auto out = generation::generate(m, {{1, 2, 3}}, o);
  EXPECT_EQ(out[0].tokens, (std::vector<int32_t>{4, 5, 6, 7}));
  EXPECT_EQ(m.fed, 3 + 4 + 5 + 6);
}

TEST(Generate, StopsAtStopTokensStopStringsAndTheContext) {
  Bigram m(successor_table(26), 12);
  Letters letters;
  GenerateOptions o;
  o.temperature = 0;
  o.max_tokens = 20;
  o.stop_tokens = {7};  // 'h'
  auto a = generation::generate(m, {{2}}, o, &letters);
  EXPECT_EQ(a[0].tokens, (std::vector<int32_t>{3, 4, 5, 6, 7}));
  EXPECT_EQ(a[0].text, "defgh");
  EXPECT_EQ(a[0].finish, FinishReason::stop_token);

  o.stop_tokens.clear();
  o.stop = {"zz", "fg"};
  auto b = generation::generate(m, {{2}, {20}}, o, &letters);
  EXPECT_EQ(b[0].tokens, (std::vector<int32_t>{3, 4, 5, 6}));
  EXPECT_EQ(b[0].text, "de");  // cut before the stop string
  EXPECT_EQ(b[0].finish, FinishReason::stop);
  // Row 1 runs into the context: 1 prompt token + 11 new ones fill 12 positions.
  EXPECT_EQ(b[1].tokens.size(), 11u);
  EXPECT_EQ(b[1].finish, FinishReason::context);
}

TEST(Generate, BadInputIsAClearError) {
  Bigram m(successor_table(10), 4);
  GenerateOptions o;
  auto message = [&](const std::vector<std::vector<int32_t>>& prompts) {
    try {
      generation::generate(m, prompts, o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(message({{1}, {}}).find("prompt 1 is empty"), std::string::npos);
  EXPECT_NE(message({{1, 10}}).find("token id 10, outside the model's vocabulary of 10"),
            std::string::npos);
  EXPECT_NE(message({{1, 2, 3, 4, 5}}).find("5 tokens, more than the model's context of 4"),
            std::string::npos);
  o.top_p = 0;
  EXPECT_NE(message({{1}}).find("top_p must be in (0, 1]"), std::string::npos);
  o.top_p = 1;
  o.stop = {"x"};
  EXPECT_NE(message({{1}}).find("stop strings need a tokenizer"), std::string::npos);
}

TEST(Sampling, TemperatureTopKAndTopPByHand) {
  std::vector<double> l{1, 2, 3, 4};
  auto p = generation::sampling_distribution(l, 1.0, 0, 1.0);
  double z = std::exp(1) + std::exp(2) + std::exp(3) + std::exp(4);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(p[size_t(i)], std::exp(i + 1) / z, 1e-15);
  // Temperature 2 halves the logits.
  p = generation::sampling_distribution(l, 2.0, 0, 1.0);
  z = std::exp(0.5) + std::exp(1) + std::exp(1.5) + std::exp(2);
  EXPECT_NEAR(p[3], std::exp(2) / z, 1e-15);
  // Top-2 keeps logits 3 and 4.
  p = generation::sampling_distribution(l, 1.0, 2, 1.0);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[1], 0.0);
  EXPECT_NEAR(p[2], std::exp(3) / (std::exp(3) + std::exp(4)), 1e-15);
  // Ties at the k-th value stay (as Hugging Face's TopKLogitsWarper).
  p = generation::sampling_distribution({1, 3, 3, 2}, 1.0, 1, 1.0);
  EXPECT_EQ(p, (std::vector<double>{0, 0.5, 0.5, 0}));
  // Top-p over probabilities 0.5, 0.3, 0.15, 0.05: 0.79 keeps the first two (0.8 >= 0.79),
  // 0.81 the first three, renormalised.
  std::vector<double> lp{std::log(0.15), std::log(0.5), std::log(0.05), std::log(0.3)};
  p = generation::sampling_distribution(lp, 1.0, 0, 0.79);
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-12);
  EXPECT_NEAR(p[3], 0.3 / 0.8, 1e-12);
  EXPECT_EQ(p[0], 0.0);
  EXPECT_EQ(p[2], 0.0);
  p = generation::sampling_distribution(lp, 1.0, 0, 0.81);
  EXPECT_NEAR(p[0], 0.15 / 0.95, 1e-12);
  EXPECT_EQ(p[2], 0.0);
  // A tiny top_p keeps the single most likely token.
  p = generation::sampling_distribution(lp, 1.0, 0, 1e-9);
  EXPECT_EQ(p, (std::vector<double>{0, 1, 0, 0}));
  // top-k then top-p.
  p = generation::sampling_distribution(lp, 1.0, 3, 0.6);
  EXPECT_NEAR(p[1], 0.5 / 0.8, 1e-12);
}

TEST(Sampling, InverseCdfPicksTheRightToken) {
  std::vector<double> p{0.0, 0.25, 0.0, 0.75};
  EXPECT_EQ(generation::sample_index(p, 0.0), 1);
  EXPECT_EQ(generation::sample_index(p, 0.2499), 1);
  EXPECT_EQ(generation::sample_index(p, 0.25), 3);
  EXPECT_EQ(generation::sample_index(p, 0.9999999), 3);
}

TEST(Sampling, ReproducibleBySeedAndFiltered) {
  // A flat table: every token equally likely, so the draws alone decide.
  const int64_t V = 16;
  Bigram m(zeros({V, V}, DType::f64), 256);
  GenerateOptions o;
  o.max_tokens = 40;
  o.seed = 7;
  auto a = generation::generate(m, {{0}, {1, 2}}, o);
  auto b = generation::generate(m, {{0}, {1, 2}}, o);
  EXPECT_EQ(a[0].tokens, b[0].tokens);
  EXPECT_EQ(a[1].tokens, b[1].tokens);
  EXPECT_NE(a[0].tokens, a[1].tokens);
  o.seed = 8;
  auto c = generation::generate(m, {{0}, {1, 2}}, o);
  EXPECT_NE(a[0].tokens, c[0].tokens);
  // With a shared generator, two calls continue one stream.
  Generator g(7);
  o.generator = &g;
  auto d = generation::generate(m, {{0}, {1, 2}}, o);
  EXPECT_EQ(d[0].tokens, a[0].tokens);

  // Top-k over a table whose row t favours t+1 > t+2 > ...: only the two best ever appear.
  std::vector<double> t(size_t(V * V));
  for (int64_t i = 0; i < V; ++i)
    for (int64_t j = 0; j < V; ++j) t[size_t(i * V + (i + 1 + j) % V)] = -double(j);
  Bigram ranked(from_vector(t, {V, V}), 256);
  o.generator = nullptr;
  o.top_k = 2;
  o.max_tokens = 100;
  auto e = generation::generate(ranked, {{0}}, o);
  int32_t prev = 0;
  int seen_second = 0;
  for (int32_t tok : e[0].tokens) {
    EXPECT_TRUE(tok == (prev + 1) % V || tok == (prev + 2) % V) << prev << " -> " << tok;
    seen_second += tok == (prev + 2) % V;
    prev = tok;
  }
  EXPECT_GT(seen_second, 5);  // p = 1/(1+e) ~ 0.27 of 100 draws
}

}  // namespace
}  // namespace kiln::testing
