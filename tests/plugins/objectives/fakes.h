// Test doubles for the objective tests: a tokenizer whose tokens are given by hand, and small
// models of each kind (encoder, ELECTRA, encoder-decoder, biLM) built from embeddings and
// linear maps. Every model records what it was given, and with zero weights its logits are
// all zero, so a loss is known in closed form (ln V for a cross-entropy over V classes, ln 2
// for a binary one).
#pragma once

#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/init.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "core/train/objective.h"

namespace kiln::objectives::testing {

/// Bytes as tokens: byte b is id b + offset; id 0 is EOS (ids 1 .. offset - 1 unused). For
/// post-training data read from JSON lines.
class ByteIds final : public data::Tokenizer {
 public:
  explicit ByteIds(int32_t offset = 1) : offset_(offset) {}
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (char ch : text) ids.push_back(int32_t(uint8_t(ch)) + offset_);
    return ids;
  }
  std::string decode(const std::vector<int32_t>&) const override { return {}; }
  std::string token_bytes(int32_t id) const override { return std::string(1, char(id - offset_)); }
  int64_t vocab_size() const override { return 256 + offset_; }
  std::optional<int32_t> eos_id() const override { return 0; }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}

 private:
  int32_t offset_;
};

/// Special tokens first ([PAD] [UNK] [CLS] [SEP] [MASK], then `sentinels` <extra_id_N> from
/// the last down), then ordinary tokens with the bytes given.
class FakeTokenizer final : public data::Tokenizer {
 public:
  FakeTokenizer(std::vector<std::string> ordinary, int sentinels = 0,
                std::vector<std::string> specials = {"[PAD]", "[UNK]", "[CLS]", "[SEP]",
                                                     "[MASK]"}) {
    for (const std::string& s : specials) add_special(s);
    for (int i = sentinels - 1; i >= 0; --i) add_special("<extra_id_" + std::to_string(i) + ">");
    for (std::string& o : ordinary) bytes_.push_back(std::move(o));
  }
  /// `n` ordinary tokens " w0", " w1", ...: each one a word.
  static std::shared_ptr<FakeTokenizer> words(int n, int sentinels = 0) {
    std::vector<std::string> v;
    for (int i = 0; i < n; ++i) v.push_back(" w" + std::to_string(i));
    return std::make_shared<FakeTokenizer>(std::move(v), sentinels);
  }
  int32_t first_ordinary() const { return int32_t(specials_.size()); }
  std::vector<int32_t> encode(std::string_view, bool) const override { return {}; }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += token_bytes(id);
    return s;
  }
  std::string token_bytes(int32_t id) const override { return bytes_.at(size_t(id)); }
  int64_t vocab_size() const override { return int64_t(bytes_.size()); }
  std::map<std::string, int32_t> special_tokens() const override { return specials_; }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}

 private:
  void add_special(const std::string& s) {
    specials_[s] = int32_t(bytes_.size());
    bytes_.push_back(s);
  }
  std::vector<std::string> bytes_;
  std::map<std::string, int32_t> specials_;
};

struct Leaf : nn::Module {
  nn::Parameter add(const std::string& name, const Tensor& t) {
    return register_parameter(name, t);
  }
};

inline Tensor weights(const Shape& shape, bool zero) {
  return zero ? zeros(shape, DType::f64) : nn::init::normal_(empty(shape, DType::f64), 0, 0.5);
}

/// encode = token embedding + token-type embedding; MLM head and sentence head linear.
class LinearEncoder : public nn::EncoderModel {
 public:
  LinearEncoder(int64_t vocab, int64_t d, bool zero, int64_t sentence_classes = 2)
      : V_(vocab), d_(d), classes_(sentence_classes) {
    auto leaf = register_module("p", std::make_shared<Leaf>());
    emb_ = leaf->add("emb", weights({vocab, d}, zero));
    types_ = leaf->add("types", weights({2, d}, zero));
    head_ = leaf->add("head", weights({vocab, d}, zero));
    sent_ = leaf->add("sent", weights({std::max<int64_t>(sentence_classes, 1), d}, zero));
  }
  Tensor encode(const Tensor& tokens, nn::ForwardState& state) override {
    seen_tokens.push_back(tokens.to_vector<int64_t>());
    seen_types = state.token_types.defined() ? state.token_types.to_vector<int64_t>()
                                             : std::vector<int64_t>();
    seen_padding = state.key_padding;
    Tensor x = ops::embedding(emb_, tokens);
    if (state.token_types.defined()) x = ops::add(x, ops::embedding(types_, state.token_types));
    return x;
  }
  Tensor mlm_logits(const Tensor& hidden) override {
    mlm_rows = hidden.numel() / d_;
    return ops::linear(hidden, head_);
  }
  Tensor sentence_logits(const Tensor& hidden) override {
    return ops::linear(hidden.select(1, 0), sent_);
  }
  int64_t sentence_classes() const override { return classes_; }
  int64_t d_model() const override { return d_; }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return 1024; }
  double train_flops_per_token(int64_t) const override { return 0; }

  std::vector<std::vector<int64_t>> seen_tokens;
  std::vector<int64_t> seen_types;
  Tensor seen_padding;
  int64_t mlm_rows = 0;

 private:
  int64_t V_, d_, classes_;
  nn::Parameter emb_, types_, head_, sent_;
};

/// A generator (LinearEncoder) and a discriminator (its own embedding, a linear score).
class FakeElectra final : public nn::ElectraModel {
 public:
  FakeElectra(int64_t vocab, int64_t d, bool zero) : V_(vocab), d_(d) {
    gen_ = register_module("generator", std::make_shared<LinearEncoder>(vocab, d, zero));
    auto leaf = register_module("disc", std::make_shared<Leaf>());
    emb_ = leaf->add("emb", weights({vocab, d}, zero));
    w_ = leaf->add("w", weights({1, d}, zero));
  }
  EncoderModel& generator() override { return *gen_; }
  Tensor encode(const Tensor& tokens, nn::ForwardState&) override {
    seen_tokens = tokens.to_vector<int64_t>();
    return ops::embedding(emb_, tokens);
  }
  Tensor mlm_logits(const Tensor& hidden) override { return gen_->mlm_logits(hidden); }
  Tensor discriminator_logits(const Tensor& hidden) override {
    Tensor s = ops::linear(hidden, w_);  // [B, T, 1]
    return s.reshape({s.size(0), s.size(1)});
  }
  int64_t d_model() const override { return d_; }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return 1024; }
  double train_flops_per_token(int64_t) const override { return 0; }

  std::shared_ptr<LinearEncoder> gen_;
  std::vector<int64_t> seen_tokens;

 private:
  int64_t V_, d_;
  nn::Parameter emb_, w_;
};

/// encode = embedding of the source; forward = embedding of the decoder input plus the mean
/// of the memory, through a linear head.
class FakeSeq2Seq final : public nn::Seq2SeqModel {
 public:
  FakeSeq2Seq(int64_t vocab, int64_t d, bool zero, int64_t start)
      : V_(vocab), d_(d), start_(start) {
    auto leaf = register_module("p", std::make_shared<Leaf>());
    enc_ = leaf->add("enc", weights({vocab, d}, zero));
    dec_ = leaf->add("dec", weights({vocab, d}, zero));
    head_ = leaf->add("head", weights({vocab, d}, zero));
  }
  Tensor encode(const Tensor& source, nn::ForwardState& state) override {
    sources = source.to_vector<int64_t>();
    source_shape = source.shape();
    source_padding = state.key_padding;
    return ops::embedding(enc_, source);
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override {
    EXPECT_TRUE(state.memory.defined());
    decoder_inputs = tokens.to_vector<int64_t>();
    decoder_shape = tokens.shape();
    memory_padding = state.memory_padding;
    Tensor ctx = ops::mean(state.memory, {1}, true);  // [B, 1, d]
    return ops::linear(ops::add(ops::embedding(dec_, tokens), ctx), head_);
  }
  int64_t decoder_start_token() const override { return start_; }
  int64_t d_model() const override { return d_; }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return 1024; }
  double train_flops_per_token(int64_t) const override { return 0; }

  std::vector<int64_t> sources, decoder_inputs;
  Shape source_shape, decoder_shape;
  Tensor source_padding, memory_padding;

 private:
  int64_t V_, d_, start_;
  nn::Parameter enc_, dec_, head_;
};

/// Forward logits from the current token, backward logits from the current token through
/// another head.
class FakeBiLM final : public nn::BiLMModel {
 public:
  FakeBiLM(int64_t vocab, int64_t d, bool zero) : V_(vocab), d_(d) {
    auto leaf = register_module("p", std::make_shared<Leaf>());
    emb_ = leaf->add("emb", weights({vocab, d}, zero));
    fwd_ = leaf->add("fwd", weights({vocab, d}, zero));
    bwd_ = leaf->add("bwd", weights({vocab, d}, zero));
  }
  Logits bidirectional_logits(const Tensor& tokens, nn::ForwardState&) override {
    Tensor x = ops::embedding(emb_, tokens);
    return {ops::linear(x, fwd_), ops::linear(x, bwd_)};
  }
  Tensor encode(const Tensor& tokens, nn::ForwardState&) override {
    return ops::embedding(emb_, tokens);
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState& s) override {
    return bidirectional_logits(tokens, s).forward;
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return 1024; }
  double train_flops_per_token(int64_t) const override { return 0; }

 private:
  int64_t V_, d_;
  nn::Parameter emb_, fwd_, bwd_;
};

/// A batch of rows of ordinary tokens drawn by a simple LCG (independent of kiln's generator).
inline data::Batch random_batch(int64_t B, int64_t T, int32_t first, int32_t count, uint64_t seed) {
  std::vector<int64_t> v(size_t(B * T));
  uint64_t s = seed * 6364136223846793005ull + 1442695040888963407ull;
  for (auto& x : v) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    x = first + int64_t((s >> 33) % uint64_t(count));
  }
  data::Batch b;
  b.inputs = from_vector(v, {B, T});
  return b;
}

inline train::ObjectiveContext context(std::shared_ptr<const data::Tokenizer> t,
                                       const nn::Model* model, uint64_t seed = 0) {
  return {std::move(t), model, seed};
}

}  // namespace kiln::objectives::testing
