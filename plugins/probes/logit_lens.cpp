#include "plugins/probes/logit_lens.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd/autograd.h"
#include "core/nn/hooks.h"
#include "core/ops/index.h"
#include "plugins/probes/common.h"

namespace kiln::probes {

LogitLens logit_lens(nn::Model& model, const Tensor& tokens) {
  KILN_CHECK(tokens.dim() == 2 && tokens.size(0) == 1, "logit_lens: expected tokens [1, T], got ",
             tokens.shape());
  const int64_t L = count_layers(model);
  std::vector<std::string> names = {block_hook(0, "hook_resid_pre")};
  for (int64_t l = 0; l < L; ++l) names.push_back(block_hook(l, "hook_resid_post"));
  nn::CacheRun run = nn::run_with_cache(model, tokens, nn::names_in(names));
  LogitLens out;
  std::vector<Tensor> rows;
  const std::string last = block_hook(L - 1, "hook_resid_post");
  for (size_t i = 0; i < names.size(); ++i) {
    out.rows.push_back(i == 0 ? "embed" : std::to_string(i - 1));
    Tensor logits;
    if (names[i] == last) {
      logits = run.logits;  // the model's own logits
    } else {
      nn::Hooks hooks(model);
      hooks.add(last, nn::replace_with(run.cache.at(names[i])));
      logits = forward_logits(model, tokens);
    }
    rows.push_back(logits.to(DType::f64).select(0, 0).contiguous());
  }
  out.logits = ops::stack(rows, 0);
  return out;
}

namespace {

std::vector<double> softmax_row(const double* x, int64_t V) {
  double m = *std::max_element(x, x + V), s = 0;
  std::vector<double> p(static_cast<size_t>(V));
  for (int64_t v = 0; v < V; ++v) s += p[size_t(v)] = std::exp(x[v] - m);
  for (double& q : p) q /= s;
  return p;
}

}  // namespace

std::vector<std::vector<LensTop>> lens_top_k(const LogitLens& lens, int64_t k) {
  const int64_t R = lens.logits.size(0), T = lens.logits.size(1), V = lens.logits.size(2);
  k = std::min(k, V);
  const std::vector<double> l = lens.logits.contiguous().to_vector<double>();
  std::vector<std::vector<LensTop>> out(static_cast<size_t>(R),
                                        std::vector<LensTop>(static_cast<size_t>(T)));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t t = 0; t < T; ++t) {
      std::vector<double> p = softmax_row(l.data() + (r * T + t) * V, V);
      std::vector<int64_t> idx(static_cast<size_t>(V));
      std::iota(idx.begin(), idx.end(), 0);
      std::partial_sort(idx.begin(), idx.begin() + k, idx.end(), [&](int64_t a, int64_t b) {
        return p[size_t(a)] > p[size_t(b)] || (p[size_t(a)] == p[size_t(b)] && a < b);
      });
      LensTop& top = out[size_t(r)][size_t(t)];
      for (int64_t i = 0; i < k; ++i) {
        top.ids.push_back(idx[size_t(i)]);
        top.probs.push_back(p[size_t(idx[size_t(i)])]);
      }
    }
  return out;
}

void lens_target(const LogitLens& lens, int64_t target, std::vector<double>& prob,
                 std::vector<int64_t>& rank) {
  const int64_t R = lens.logits.size(0), T = lens.logits.size(1), V = lens.logits.size(2);
  KILN_CHECK(target >= 0 && target < V, "logit_lens: target token ", target,
             " is outside the vocabulary of ", V);
  const std::vector<double> l = lens.logits.contiguous().to_vector<double>();
  prob.assign(size_t(R * T), 0);
  rank.assign(size_t(R * T), 0);
  for (int64_t i = 0; i < R * T; ++i) {
    std::vector<double> p = softmax_row(l.data() + i * V, V);
    prob[size_t(i)] = p[size_t(target)];
    int64_t above = 0;
    for (int64_t v = 0; v < V; ++v) above += p[size_t(v)] > p[size_t(target)];
    rank[size_t(i)] = above;
  }
}

Tensor attention_patterns(nn::Model& model, const Tensor& tokens) {
  KILN_CHECK(tokens.dim() == 2 && tokens.size(0) == 1,
             "attention_patterns: expected tokens [1, T], got ", tokens.shape());
  const int64_t L = count_layers(model);
  std::vector<std::string> names;
  for (int64_t l = 0; l < L; ++l) names.push_back(block_hook(l, "attn.hook_pattern"));
  nn::CacheRun run = nn::run_with_cache(model, tokens, nn::names_in(names));
  std::vector<Tensor> rows;
  for (const std::string& n : names) {
    auto it = run.cache.find(n);
    KILN_CHECK(it != run.cache.end(), "attention_patterns: the model has no hook point ", n);
    rows.push_back(it->second.to(DType::f64).select(0, 0).contiguous());
  }
  return ops::stack(rows, 0);
}

}  // namespace kiln::probes
