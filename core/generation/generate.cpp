#include "core/generation/generate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/autograd/autograd.h"
#include "core/tensor/factory.h"

namespace kiln::generation {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::length:
      return "length";
    case FinishReason::stop:
      return "stop";
    case FinishReason::stop_token:
      return "stop_token";
    case FinishReason::context:
      return "context";
  }
  return "?";
}

std::vector<double> sampling_distribution(const std::vector<double>& logits, double temperature,
                                          int64_t top_k, double top_p) {
  KILN_CHECK(temperature > 0 && std::isfinite(temperature),
             "generate: temperature must be > 0 to sample, got ", temperature);
  const size_t V = logits.size();
  KILN_CHECK(V > 0, "generate: no logits to sample from");
  const double ninf = -std::numeric_limits<double>::infinity();
  std::vector<double> z(V);
  for (size_t i = 0; i < V; ++i) z[i] = std::isnan(logits[i]) ? ninf : logits[i] / temperature;

  // Top-k keeps every token at least as likely as the k-th (ties at the boundary stay, as in
  // Hugging Face's TopKLogitsWarper).
  if (top_k > 0 && size_t(top_k) < V) {
    std::vector<double> sorted = z;
    std::nth_element(sorted.begin(), sorted.begin() + (top_k - 1), sorted.end(),
                     std::greater<double>());
    const double kth = sorted[size_t(top_k - 1)];
    for (double& v : z)
      if (v < kth) v = ninf;
  }
  const double m = *std::max_element(z.begin(), z.end());
  KILN_CHECK(m > ninf, "generate: every token has probability zero (all logits are -inf or NaN)");
  std::vector<double> p(V);
  double sum = 0;
  for (size_t i = 0; i < V; ++i) sum += p[i] = z[i] == ninf ? 0.0 : std::exp(z[i] - m);
  for (double& v : p) v /= sum;

  // Top-p keeps the most likely tokens, in order of probability (then index), until their mass
  // reaches top_p; the token that crosses it stays, so at least one token is always kept.
  if (top_p < 1.0) {
    std::vector<size_t> order(V);
    std::iota(order.begin(), order.end(), size_t(0));
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return p[a] > p[b]; });
    double mass = 0;
    size_t keep = 0;
    while (keep < V && (keep == 0 || mass < top_p)) mass += p[order[keep++]];
    for (size_t r = keep; r < V; ++r) p[order[r]] = 0.0;
    for (double& v : p) v /= mass;
  }
  return p;
}

int32_t sample_index(const std::vector<double>& probs, double u) {
  double acc = 0;
  int32_t last = -1;
  for (size_t i = 0; i < probs.size(); ++i) {
    if (probs[i] <= 0) continue;
    acc += probs[i];
    last = int32_t(i);
    if (u < acc) return last;
  }
  KILN_CHECK(last >= 0, "generate: cannot sample from an all-zero distribution");
  return last;  // u beyond the rounded total: the last token with mass
}

namespace {

int32_t argmax(const double* row, int64_t V) {
  int64_t best = 0;
  for (int64_t i = 1; i < V; ++i)
    if (row[i] > row[best] || (std::isnan(row[best]) && !std::isnan(row[i]))) best = i;
  return int32_t(best);
}

// Switches the model to eval mode for a scope.
class EvalMode {
 public:
  explicit EvalMode(nn::Model& m) : m_(m), was_training_(m.is_training()) { m_.eval(); }
  ~EvalMode() { m_.train(was_training_); }
  EvalMode(const EvalMode&) = delete;
  EvalMode& operator=(const EvalMode&) = delete;

 private:
  nn::Model& m_;
  bool was_training_;
};

// Where each stop string first occurs in text (npos when none).
size_t first_stop(const std::string& text, const std::vector<std::string>& stops) {
  size_t best = std::string::npos;
  for (const std::string& s : stops)
    if (!s.empty()) best = std::min(best, text.find(s));
  return best;
}

}  // namespace

std::vector<Generation> generate(nn::Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                 const GenerateOptions& o, const data::Tokenizer* tokenizer) {
  const int64_t B = int64_t(prompts.size());
  KILN_CHECK(B > 0, "generate: no prompts");
  KILN_CHECK(o.max_tokens >= 0, "generate: max_tokens must be >= 0, got ", o.max_tokens);
  KILN_CHECK(o.temperature >= 0 && std::isfinite(o.temperature),
             "generate: temperature must be >= 0, got ", o.temperature);
  KILN_CHECK(o.top_k >= 0, "generate: top_k must be >= 0 (0 = off), got ", o.top_k);
  KILN_CHECK(o.top_p > 0 && o.top_p <= 1, "generate: top_p must be in (0, 1], got ", o.top_p);
  KILN_CHECK(o.stop.empty() || tokenizer,
             "generate: stop strings need a tokenizer to read the text");
  const int64_t V = model.vocab_size(), C = model.context_length();
  int64_t P = 0;
  for (int64_t b = 0; b < B; ++b) {
    const auto& p = prompts[size_t(b)];
    KILN_CHECK(!p.empty(), "generate: prompt ", b,
               " is empty (give at least one token, e.g. the EOS token)");
    KILN_CHECK(int64_t(p.size()) <= C, "generate: prompt ", b, " has ", p.size(),
               " tokens, more than the model's context of ", C);
    for (int32_t id : p)
      KILN_CHECK(id >= 0 && id < V, "generate: prompt ", b, " holds token id ", id,
                 ", outside the model's vocabulary of ", V);
    P = std::max<int64_t>(P, int64_t(p.size()));
  }
  if (o.memory.defined())
    KILN_CHECK(o.memory.dim() == 3 && o.memory.size(0) == B,
               "generate: memory must be the encoder's states [B, S, d] for the ", B,
               " prompts, got ", o.memory.shape());
  if (o.memory_padding.defined())
    KILN_CHECK(o.memory.defined() && o.memory_padding.dtype() == DType::boolean &&
                   o.memory_padding.dim() == 2 && o.memory_padding.size(0) == B &&
                   o.memory_padding.size(1) == o.memory.size(1),
               "generate: memory_padding must be bool [B, S] beside a memory [B, S, d], got ",
               dtype_name(o.memory_padding.dtype()), " ", o.memory_padding.shape());
  std::vector<Generation> out(static_cast<size_t>(B));
  if (o.max_tokens == 0) return out;

  autograd::NoGrad no_grad;
  EvalMode eval_mode(model);
  Generator own(o.seed);
  Generator& gen = o.generator ? *o.generator : own;

  // The padded sequence: row b's prompt sits right-aligned after pad[b] filler tokens.
  const int64_t total = std::min(C, P + o.max_tokens);  // padded positions ever used
  std::vector<int64_t> pad(static_cast<size_t>(B));
  bool padded = false;
  for (int64_t b = 0; b < B; ++b)
    padded |= (pad[size_t(b)] = P - int64_t(prompts[size_t(b)].size())) > 0;
  std::vector<int64_t> seq(size_t(B * total), 0);  // filler id 0, hidden by the key mask
  std::vector<bool> real(size_t(B * total), true);
  std::vector<int64_t> pos(size_t(B * total));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 0; t < total; ++t) {
      const int64_t i = b * total + t, p = pad[size_t(b)];
      real[size_t(i)] = t >= p;
      pos[size_t(i)] = std::max<int64_t>(0, t - p);
      if (t >= p && t < P) seq[size_t(i)] = prompts[size_t(b)][size_t(t - p)];
    }
  Tensor key_padding = from_vector(real, {B, total});
  Tensor positions = from_vector(pos, {B, total});
  Tensor tokens = from_vector(seq, {B, total});

  nn::KVCache cache;
  const bool cached = o.use_cache;
  if (cached) cache = model.make_cache(B, total);

  // Logits [B, V] of the last position after feeding padded positions [from, to).
  auto run = [&](int64_t from, int64_t to) {
    nn::ForwardState st;
    st.memory = o.memory;
    st.memory_padding = o.memory_padding;
    if (cached) {
      st.cache = &cache;
    } else {
      from = 0;
    }
    Tensor in = tokens.narrow(1, from, to - from).contiguous();
    if (padded) {
      st.positions = positions.narrow(1, from, to - from).contiguous();
      st.key_padding = key_padding.narrow(1, 0, to).contiguous();
    }
    Tensor logits = model.forward(in, st);
    KILN_CHECK(logits.dim() == 3 && logits.size(0) == B && logits.size(1) == to - from &&
                   logits.size(2) == V,
               "generate: the model returned logits of shape ", logits.shape(), " for input ",
               in.shape(), " (expected [B, T, ", V, "])");
    return logits.select(1, to - from - 1).to(DType::f64).contiguous().to_vector<double>();
  };

  std::vector<bool> done(static_cast<size_t>(B), false);
  int64_t remaining = B;
  std::vector<double> logits = run(0, P);
  for (int64_t step = 0;; ++step) {
    std::vector<double> u;
    if (o.temperature > 0) u = rand({B}, DType::f64, &gen).to_vector<double>();
    for (int64_t b = 0; b < B; ++b) {
      if (done[size_t(b)]) continue;
      const double* row = logits.data() + b * V;
      int32_t next;
      if (o.temperature == 0) {
        next = argmax(row, V);
      } else {
        std::vector<double> l(row, row + V);
        next =
            sample_index(sampling_distribution(l, o.temperature, o.top_k, o.top_p), u[size_t(b)]);
      }
      Generation& g = out[size_t(b)];
      g.tokens.push_back(next);
      seq[size_t(b * total + P + step)] = next;
      if (o.on_token) o.on_token(b, next);
      auto finish = [&](FinishReason r) {
        g.finish = r;
        done[size_t(b)] = true;
        --remaining;
      };
      if (std::find(o.stop_tokens.begin(), o.stop_tokens.end(), next) != o.stop_tokens.end()) {
        finish(FinishReason::stop_token);
      } else if (!o.stop.empty() &&
                 first_stop(tokenizer->decode(g.tokens), o.stop) != std::string::npos) {
        finish(FinishReason::stop);
      } else if (int64_t(g.tokens.size()) == o.max_tokens) {
        finish(FinishReason::length);
      } else if (P + step + 1 >= total) {
        finish(FinishReason::context);
      }
    }
    if (remaining == 0) break;
    // Feed the new tokens (finished rows feed theirs too; their results are ignored).
    tokens = from_vector(seq, {B, total});
    logits = run(P + step, P + step + 1);
  }
  if (tokenizer)
    for (Generation& g : out) {
      g.text = tokenizer->decode(g.tokens);
      if (g.finish == FinishReason::stop) g.text.resize(first_stop(g.text, o.stop));
    }
  return out;
}

}  // namespace kiln::generation
