// A model that generates with kiln's generation API (positions, KV cache), for the
// generate_until tests: the next token depends on the previous token and on its absolute
// position, logits[b, t, v] = A[prev][v] + P[pos][v] in f64 (plain loops), so a row computes
// the same whatever the rows beside it, and a plain greedy loop over the definition is the
// reference.
#pragma once

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"
#include "core/tensor/factory.h"

namespace kiln::evaluators::testing {

class CachedBigramModel final : public nn::Model {
 public:
  CachedBigramModel(int64_t vocab, int64_t context, uint64_t seed = 11) : V_(vocab), C_(context) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> n(0.0, 1.0);
    A_.resize(size_t(V_ * V_));
    P_.resize(size_t(C_ * V_));
    for (double& a : A_) a = n(rng);
    for (double& p : P_) p = 0.5 * n(rng);
  }
  double logit(int32_t prev, int64_t pos, int32_t next) const {
    return A_[size_t(prev * V_ + next)] + P_[size_t(pos * V_ + next)];
  }
  /// argmax over the next token, the first at ties.
  int32_t greedy(int32_t prev, int64_t pos) const {
    int32_t best = 0;
    for (int32_t v = 1; v < V_; ++v)
      if (logit(prev, pos, v) > logit(prev, pos, best)) best = v;
    return best;
  }
  Tensor forward(const Tensor& tokens, nn::ForwardState& st) override {
    ++forwards;
    const int64_t B = tokens.size(0), T = tokens.size(1);
    const int64_t offset = st.cache ? st.cache->length : 0;
    std::vector<int64_t> ids = tokens.to_vector<int64_t>();
    std::vector<int64_t> pos;
    if (st.positions.defined()) pos = st.positions.to_vector<int64_t>();
    std::vector<double> out(size_t(B * T * V_));
    for (int64_t b = 0; b < B; ++b)
      for (int64_t t = 0; t < T; ++t) {
        int64_t p = offset + t;
        if (!pos.empty()) p = pos.size() == size_t(T) ? pos[size_t(t)] : pos[size_t(b * T + t)];
        for (int32_t v = 0; v < V_; ++v)
          out[size_t((b * T + t) * V_ + v)] = logit(int32_t(ids[size_t(b * T + t)]), p, v);
      }
    if (st.cache) st.cache->length += T;
    return from_vector(out, {B, T, V_});
  }
  nn::KVCache make_cache(int64_t, int64_t capacity) const override {
    nn::KVCache c;
    c.capacity = capacity;
    return c;
  }
  int64_t vocab_size() const override { return V_; }
  int64_t context_length() const override { return C_; }
  double train_flops_per_token(int64_t) const override { return 0; }
  int forwards = 0;

 private:
  int64_t V_, C_;
  std::vector<double> A_, P_;
};

}  // namespace kiln::evaluators::testing
