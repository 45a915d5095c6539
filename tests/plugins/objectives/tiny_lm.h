// A tiny causal language model for the post-training tests: token and position embeddings,
// one single-head causal attention layer (segment ids keep packed documents apart, positions
// restart where the batch says), a tanh MLP and a linear head with `outputs` outputs a
// position (the vocabulary, or 1 for a reward model). Its last hidden state passes through the
// hook point "hook_final" (what a value head reads). Any dtype; f64 for gradient checks.
#pragma once

#include "core/nn/init.h"
#include "core/nn/model.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "core/tensor/random.h"

namespace kiln::objectives::testing {

class TinyLM final : public nn::Model {
 public:
  TinyLM(int64_t vocab, int64_t d, int64_t outputs, uint64_t seed, DType dt = DType::f64,
         double std = 0.5)
      : V_(vocab), d_(d) {
    Generator g(seed);
    auto p = [&](const char* name, Shape s) {
      return register_parameter(name, randn(s, dt, &g, 0.0, std));
    };
    emb_ = p("emb", {vocab, d});
    pos_ = p("pos", {kContext, d});
    wq_ = p("wq", {d, d});
    wk_ = p("wk", {d, d});
    wv_ = p("wv", {d, d});
    wo_ = p("wo", {d, d});
    w1_ = p("w1", {d, d});
    head_ = p("head", {outputs, d});
    hook_final_ = &register_hook("hook_final");  // what a value head reads
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override {
    const int64_t B = tokens.size(0), T = tokens.size(1);
    Tensor positions = state.positions.defined()
                           ? state.positions
                           : arange(T).reshape({1, T}).expand({B, T}).contiguous();
    Tensor x = ops::add(ops::embedding(emb_, tokens), ops::embedding(pos_, positions));
    auto heads = [&](const Tensor& w) {
      return ops::linear(x, w).reshape({B, T, 1, d_}).permute({0, 2, 1, 3});
    };
    ops::AttentionOptions o;
    o.causal = true;
    if (state.segment_ids.defined())
      o.mask =
          ops::eq(state.segment_ids.reshape({B, 1, T, 1}), state.segment_ids.reshape({B, 1, 1, T}));
    Tensor a = ops::scaled_dot_product_attention(heads(wq_), heads(wk_), heads(wv_), o);
    a = a.permute({0, 2, 1, 3}).reshape({B, T, d_});
    x = ops::add(x, ops::linear(a, wo_));
    x = ops::add(x, ops::tanh(ops::linear(x, w1_)));
    x = (*hook_final_)(x);
    return ops::linear(x, head_);
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return kContext; }
  double train_flops_per_token(int64_t) const override { return 0; }

  static constexpr int64_t kContext = 64;

 private:
  int64_t V_, d_;
  nn::Parameter emb_, pos_, wq_, wk_, wv_, wo_, w1_, head_;
  nn::HookPoint* hook_final_ = nullptr;
};

}  // namespace kiln::objectives::testing
