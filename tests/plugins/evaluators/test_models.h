// Models, a tokenizer and a dataset for the evaluator tests. The models' log-probabilities are
// known in closed form, so that a test computes what a window should score by itself.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/data/tokenizer.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"

namespace kiln::evaluators::testing {

/// logits[b, t, v] = A[ids[b, t]][v] + P[t][v] in f64: the next token depends on the previous
/// token and on the position inside the window, so that where windows start shows in the
/// score. Written as plain loops, independent of the ops the evaluator uses.
class PositionalBigramModel final : public nn::Model {
 public:
  PositionalBigramModel(int64_t vocab, int64_t context, uint64_t seed = 7)
      : V_(vocab), C_(context) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, 1.5);
    A_.resize(size_t(V_ * V_));
    P_.resize(size_t(C_ * V_));
    for (double& a : A_) a = n(rng);
    for (double& p : P_) p = n(rng);
  }
  double logit(int32_t prev, int64_t pos, int32_t next) const {
    return A_[size_t(prev * V_ + next)] + P_[size_t(pos * V_ + next)];
  }
  /// log p(next | prev at window position pos), from the definition.
  double logprob(int32_t prev, int64_t pos, int32_t next) const {
    double m = -INFINITY;
    for (int32_t w = 0; w < V_; ++w) m = std::max(m, logit(prev, pos, w));
    double s = 0;
    for (int32_t w = 0; w < V_; ++w) s += std::exp(logit(prev, pos, w) - m);
    return logit(prev, pos, next) - m - std::log(s);
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState&) override {
    ++forwards;
    const int64_t B = tokens.size(0), T = tokens.size(1);
    EXPECT_LE(T, C_);
    std::vector<int64_t> ids = tokens.to_vector<int64_t>();
    std::vector<double> out(size_t(B * T * V_));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t)
        for (int32_t v = 0; v < V_; ++v)
          out[size_t((b * T + t) * V_ + v)] = logit(int32_t(ids[size_t(b * T + t)]), t, v);
    return from_vector(out, {B, T, V_});
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return C_; }
  double train_flops_per_token(int64_t) const override { return 0; }
  int forwards = 0;

 private:
  int64_t V_, C_;
  std::vector<double> A_, P_;
};

/// Zero logits: every token has probability 1 / V.
class UniformModel final : public nn::Model {
 public:
  UniformModel(int64_t vocab, int64_t context) : V_(vocab), C_(context) {}
  Tensor forward(const Tensor& tokens, nn::ForwardState&) override {
    return zeros({tokens.size(0), tokens.size(1), V_}, DType::f64);
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return C_; }
  double train_flops_per_token(int64_t) const override { return 0; }

 private:
  int64_t V_, C_;
};

/// A one-layer causal attention model built from kiln's ops (embedding, linear, fused
/// attention), to see whether real kernels score a row the same whatever the batch around it.
class TinyAttentionModel final : public nn::Model {
 public:
  TinyAttentionModel(int64_t vocab, int64_t context, DType dtype = DType::f32, int64_t dim = 32,
                     int64_t heads = 2, uint64_t seed = 3)
      : V_(vocab), C_(context), D_(dim), H_(heads) {
    std::mt19937_64 rng(seed);
    auto randn = [&](Shape shape, double scale) {
      std::normal_distribution<float> n(0.0f, float(scale));
      std::vector<float> v(size_t(shape_numel(shape)));
      for (float& x : v) x = n(rng);
      return from_vector(v, shape).to(dtype);
    };
    emb_ = register_parameter("emb", randn({V_, D_}, 1.0));
    pos_ = register_parameter("pos", randn({C_, D_}, 0.5));
    wq_ = register_parameter("wq", randn({D_, D_}, 1.0 / std::sqrt(double(D_))));
    wk_ = register_parameter("wk", randn({D_, D_}, 1.0 / std::sqrt(double(D_))));
    wv_ = register_parameter("wv", randn({D_, D_}, 1.0 / std::sqrt(double(D_))));
    head_ = register_parameter("head", randn({V_, D_}, 1.0 / std::sqrt(double(D_))));
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState&) override {
    const int64_t B = tokens.size(0), T = tokens.size(1), dh = D_ / H_;
    Tensor x = ops::add(ops::embedding(emb_, tokens), pos_.narrow(0, 0, T));
    auto heads = [&](const Tensor& w) {
      return ops::linear(x, w).reshape({B, T, H_, dh}).transpose(1, 2);
    };
    ops::AttentionOptions ao;
    ao.causal = true;
    Tensor a = ops::scaled_dot_product_attention(heads(wq_), heads(wk_), heads(wv_), ao);
    Tensor h = ops::add(x, a.transpose(1, 2).reshape({B, T, D_}));
    return ops::linear(h, head_);
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return C_; }
  double train_flops_per_token(int64_t) const override { return 0; }

 private:
  int64_t V_, C_, D_, H_;
  nn::Parameter emb_, pos_, wq_, wk_, wv_, head_;
};

/// Bytes as tokens 0..255 and EOS = 256 (written "<|endoftext|>").
class ByteTokenizer final : public data::Tokenizer {
 public:
  explicit ByteTokenizer(bool with_eos = true) : eos_(with_eos) {}
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (unsigned char c : text) ids.push_back(c);
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t i : ids) s += token_bytes(i);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return id == 256 ? std::string("<|endoftext|>") : std::string(1, char(id));
  }
  int64_t vocab_size() const override { return 257; }
  std::optional<int32_t> eos_id() const override {
    return eos_ ? std::optional<int32_t>(256) : std::nullopt;
  }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}

 private:
  bool eos_;
};

/// A dataset that only has a val split of given tokens.
class FixedDataset final : public data::Dataset {
 public:
  FixedDataset(std::shared_ptr<data::Tokenizer> tok, std::vector<int32_t> val)
      : tok_(std::move(tok)), val_(std::move(val)) {}
  std::shared_ptr<data::Tokenizer> tokenizer() const override { return tok_; }
  void prepare(const data::PrepareOptions&) override {}
  data::Batch next(data::Split, int64_t, int64_t) override {
    KILN_FAIL("FixedDataset::next is not used");
  }
  std::span<const int32_t> tokens(data::Split s) const override {
    return s == data::Split::val ? std::span<const int32_t>(val_) : std::span<const int32_t>();
  }
  Config state() const override { return Config::table(); }
  void load_state(const Config&) override {}

 private:
  std::shared_ptr<data::Tokenizer> tok_;
  std::vector<int32_t> val_;
};

}  // namespace kiln::evaluators::testing
