// Pseudo-perplexity (method = "pseudo") on a masked LM whose log-probabilities are known in
// closed form: logits at position t depend on the tokens at t - 1 and t + 1 (within the
// window) and on the token at t itself, which must be the mask. The pseudo-log-likelihood is
// then the sum over windows and positions computed here from the definition.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "core/base/error.h"
#include "plugins/evaluators/perplexity.h"
#include "plugins/evaluators/pseudo_perplexity.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

constexpr int32_t kV = 11, kMask = 10;  // ordinary tokens 0..9, [MASK] = 10

/// logits[b, t, v] = Left[x[t-1]][v] + Right[x[t+1]][v] + Self[x[t]][v], with x[-1] and x[n]
/// read as the row kV (a boundary), in f64, by plain loops.
class NeighbourModel : public nn::EncoderModel {
 public:
  explicit NeighbourModel(uint64_t seed = 5) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, 1.0);
    for (auto* t : {&left_, &right_, &self_}) {
      t->resize(size_t((kV + 1) * kV));
      for (double& x : *t) x = n(rng);
    }
  }
  double logit(const std::vector<int64_t>& row, int64_t t, int32_t v) const {
    const int64_t n = int64_t(row.size());
    const int64_t l = t > 0 ? row[size_t(t - 1)] : kV, r = t + 1 < n ? row[size_t(t + 1)] : kV;
    return left_[size_t(l * kV + v)] + right_[size_t(r * kV + v)] +
           self_[size_t(row[size_t(t)] * kV + v)];
  }
  /// log p(row[t] | row with row[t] masked), from the definition.
  double masked_logprob(std::vector<int64_t> row, int64_t t) const {
    const int64_t target = row[size_t(t)];
    row[size_t(t)] = kMask;
    double m = -INFINITY, s = 0;
    for (int32_t v = 0; v < kV; ++v) m = std::max(m, logit(row, t, v));
    for (int32_t v = 0; v < kV; ++v) s += std::exp(logit(row, t, v) - m);
    return logit(row, t, int32_t(target)) - m - std::log(s);
  }
  // encode() returns the logits themselves as "hidden states"; the MLM head is the identity.
  Tensor encode(const Tensor& tokens, nn::ForwardState&) override {
    ++encodes;
    const int64_t B = tokens.size(0), T = tokens.size(1);
    const std::vector<int64_t> ids = tokens.to_vector<int64_t>();
    std::vector<double> out(size_t(B * T * kV));
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int64_t> row(ids.begin() + b * T, ids.begin() + (b + 1) * T);
      for (int64_t t = 0; t < T; ++t)
        for (int32_t v = 0; v < kV; ++v) out[size_t((b * T + t) * kV + v)] = logit(row, t, v);
    }
    return from_vector(out, {B, T, kV});
  }
  Tensor mlm_logits(const Tensor& hidden) override {
    mlm_rows += hidden.numel() / kV;
    return hidden;
  }
  int64_t d_model() const override { return kV; }
  int64_t vocab_size() const override { return kV; }
  int64_t context_length() const override { return 64; }
  double train_flops_per_token(int64_t) const override { return 0; }
  int encodes = 0;
  int64_t mlm_rows = 0;

 private:
  std::vector<double> left_, right_, self_;
};

/// The same model seen as a plain Model (forward gives the full logits).
class PlainNeighbourModel final : public nn::Model {
 public:
  Tensor forward(const Tensor& tokens, nn::ForwardState& s) override {
    return inner.encode(tokens, s);
  }
  int64_t vocab_size() const override { return kV; }
  int64_t context_length() const override { return 64; }
  double train_flops_per_token(int64_t) const override { return 0; }
  NeighbourModel inner;
};

class MaskTokenizer final : public data::Tokenizer {
 public:
  explicit MaskTokenizer(bool with_mask = true) : mask_(with_mask) {}
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (char c : text) ids.push_back(int32_t(c - 'a'));
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s += token_bytes(i);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return id == kMask ? std::string("[MASK]") : std::string(1, char('a' + id));
  }
  int64_t vocab_size() const override { return kV; }
  std::map<std::string, int32_t> special_tokens() const override {
    return mask_ ? std::map<std::string, int32_t>{{"[MASK]", kMask}}
                 : std::map<std::string, int32_t>{};
  }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}

 private:
  bool mask_;
};

std::vector<Document> documents(const std::vector<int>& lengths) {
  std::mt19937_64 rng(3);
  std::vector<Document> docs;
  for (int n : lengths) {
    Document d;
    for (int i = 0; i < n; ++i) d.tokens.push_back(int32_t(rng() % 10));
    d.text = std::string(size_t(n), 'x');
    docs.push_back(std::move(d));
  }
  return docs;
}

// Disjoint windows of `context` tokens; each token masked in its own window.
double reference(const NeighbourModel& m, const std::vector<Document>& docs, int64_t context,
                 int64_t* tokens, int64_t* windows) {
  double lp = 0;
  for (const Document& d : docs)
    for (size_t s = 0; s < d.tokens.size(); s += size_t(context)) {
      const size_t e = std::min(d.tokens.size(), s + size_t(context));
      const std::vector<int64_t> w(d.tokens.begin() + ptrdiff_t(s),
                                   d.tokens.begin() + ptrdiff_t(e));
      for (int64_t t = 0; t < int64_t(w.size()); ++t) lp += m.masked_logprob(w, t);
      *tokens += int64_t(w.size());
      ++*windows;
    }
  return lp;
}

TEST(PseudoPerplexity, EqualsTheSumOfMaskedLogProbabilities) {
  const std::vector<Document> docs = documents({7, 12, 1, 5});
  MaskTokenizer tok;
  PerplexityOptions o;
  o.method = PerplexityMethod::pseudo;
  o.context = 5;
  PerplexityEvaluator ev(o);
  NeighbourModel model;
  int64_t tokens = 0, windows = 0;
  const double lp = reference(model, docs, 5, &tokens, &windows);
  EXPECT_EQ(tokens, 25);
  EXPECT_EQ(windows, 2 + 3 + 1 + 1);
  for (int64_t batch : {1, 7, 64}) {
    const Config r = ev.score(model, &tok, docs, batch);
    EXPECT_NEAR(r.get<double>("nll"), -lp, 1e-10 * std::abs(lp)) << batch;
    EXPECT_EQ(r.get<int64_t>("tokens"), tokens);
    EXPECT_EQ(r.get<int64_t>("windows"), windows);
    EXPECT_NEAR(r.get<double>("token_perplexity"), std::exp(-lp / double(tokens)), 1e-9);
    EXPECT_EQ(r.get<std::string>("method"), "pseudo");
  }
  // Only the masked position of each row went through the MLM head.
  EXPECT_EQ(model.mlm_rows, 3 * tokens);
  // A model that is not an encoder is scored from its full logits: the same figure.
  PlainNeighbourModel plain;
  const Config r = ev.score(plain, &tok, docs, 4);
  EXPECT_NEAR(r.get<double>("nll"), -lp, 1e-10 * std::abs(lp));
}

TEST(PseudoPerplexity, NeedsAMaskToken) {
  PerplexityOptions o;
  o.method = PerplexityMethod::pseudo;
  PerplexityEvaluator ev(o);
  NeighbourModel model;
  MaskTokenizer none(false);
  try {
    ev.score(model, &none, documents({4}), 2);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no mask token"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::evaluators
