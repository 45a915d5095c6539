#include "core/eval/loglikelihood.h"

#include <algorithm>
#include <numeric>

#include "core/autograd/autograd.h"
#include "core/eval/windows.h"
#include "core/ops/loss.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::eval {
namespace {

// A request as the model sees it: the tokens it reads and how many of the last predictions
// are scored (against the tokens that follow each position).
struct Prepared {
  std::vector<int32_t> input;    // (context + continuation)[-(max_length + 1):][:-1]
  std::vector<int32_t> targets;  // the continuation
};

Prepared prepare(const LoglikelihoodRequest& r, size_t index, int64_t max_length, int64_t vocab) {
  KILN_CHECK(!r.context.empty(), "loglikelihood: request ", index,
             " has an empty context (give at least one token, e.g. the EOS/BOS prefix, to "
             "condition the first "
             "continuation token on)");
  KILN_CHECK(!r.continuation.empty(), "loglikelihood: request ", index,
             " has an empty continuation");
  KILN_CHECK(int64_t(r.continuation.size()) <= max_length, "loglikelihood: request ", index,
             " has a continuation of ", r.continuation.size(), " tokens, more than the ",
             max_length,
             " a forward pass reads (score long texts in windows: loglikelihood_rolling)");
  for (const auto* part : {&r.context, &r.continuation})
    for (int32_t t : *part)
      KILN_CHECK(t >= 0 && t < vocab, "loglikelihood: request ", index, " holds token ", t,
                 ", outside the model's vocabulary [0, ", vocab, ")");
  std::vector<int32_t> all(r.context);
  all.insert(all.end(), r.continuation.begin(), r.continuation.end());
  // lm-evaluation-harness cuts the context from the left to fit max_length + 1 tokens.
  const int64_t keep = std::min<int64_t>(int64_t(all.size()), max_length + 1);
  Prepared p;
  p.input.assign(all.end() - keep, all.end() - 1);
  p.targets = r.continuation;
  return p;
}

// Restores the model's training mode on scope exit.
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

}  // namespace

Device model_device(const nn::Model& model) {
  std::vector<Tensor> params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

std::vector<LoglikelihoodResult> loglikelihood(nn::Model& model,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               const LoglikelihoodOptions& options) {
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  KILN_CHECK(max_length >= 1 && max_length <= model.context_length(), "loglikelihood: max_length ",
             max_length, " must lie in [1, ", model.context_length(),
             "] (the model's context length)");
  KILN_CHECK(options.batch_size >= 1, "loglikelihood: batch size must be >= 1, got ",
             options.batch_size);
  const int64_t V = model.vocab_size();
  std::vector<Prepared> prepared;
  prepared.reserve(requests.size());
  for (size_t i = 0; i < requests.size(); ++i)
    prepared.push_back(prepare(requests[i], i, max_length, V));

  // Longest first (an out-of-memory shows on the first batch, and padding stays small); ties
  // keep request order, so the batches are a function of the requests and the batch size only.
  std::vector<size_t> order(prepared.size());
  std::iota(order.begin(), order.end(), size_t(0));
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return prepared[a].input.size() > prepared[b].input.size();
  });

  std::vector<LoglikelihoodResult> results(requests.size());
  const Device device = model_device(model);
  autograd::NoGrad no_grad;
  EvalMode eval_mode(model);
  const int64_t total = int64_t(order.size());
  for (int64_t start = 0; start < total; start += options.batch_size) {
    const int64_t B = std::min(options.batch_size, total - start);
    const int64_t T = int64_t(prepared[order[size_t(start)]].input.size());
    // Right padding: a causal model's prediction at a position never sees the positions after
    // it. Padded and unscored positions get the target -100, which cross_entropy skips.
    std::vector<int64_t> ids(size_t(B * T), 0), targets(size_t(B * T), -100);
    for (int64_t b = 0; b < B; ++b) {
      const Prepared& p = prepared[order[size_t(start + b)]];
      const int64_t n = int64_t(p.input.size()), k = int64_t(p.targets.size());
      for (int64_t t = 0; t < n; ++t) ids[size_t(b * T + t)] = p.input[size_t(t)];
      for (int64_t j = 0; j < k; ++j) targets[size_t(b * T + n - k + j)] = p.targets[size_t(j)];
    }
    nn::ForwardState state;
    Tensor logits = model.forward(from_vector(ids, {B, T}, device), state);
    KILN_CHECK(
        logits.dim() == 3 && logits.size(0) == B && logits.size(1) == T && logits.size(2) == V,
        "loglikelihood: the model returned logits of shape ", logits.shape(), " for tokens [", B,
        ", ", T, "]; expected [", B, ", ", T, ", ", V, "]");
    ops::CrossEntropyOptions ce;
    ce.reduction = ops::Reduction::none;
    ce.ignore_index = -100;
    Tensor flat = logits.reshape({B * T, V});
    std::vector<double> nll =
        ops::cross_entropy(flat, from_vector(targets, {B * T}, device), ce).to_vector<double>();
    std::vector<int64_t> argmax = ops::argmax(flat, -1).to_vector<int64_t>();
    for (int64_t b = 0; b < B; ++b) {
      const size_t index = order[size_t(start + b)];
      const Prepared& p = prepared[index];
      const int64_t n = int64_t(p.input.size()), k = int64_t(p.targets.size());
      LoglikelihoodResult& r = results[index];
      r.greedy = true;
      if (options.token_logprobs) r.token_logprobs.resize(size_t(k));
      // f64 sum in the continuation's order: the same whatever batch the request ran in.
      for (int64_t j = 0; j < k; ++j) {
        const size_t pos = size_t(b * T + n - k + j);
        const double lp = -nll[pos];
        r.logprob += lp;
        if (options.token_logprobs) r.token_logprobs[size_t(j)] = lp;
        if (argmax[pos] != p.targets[size_t(j)]) r.greedy = false;
      }
    }
    if (options.progress) options.progress(start + B, total);
  }
  return results;
}

RollingResult loglikelihood_rolling(nn::Model& model, std::span<const int32_t> tokens,
                                    std::optional<int32_t> prefix,
                                    const LoglikelihoodOptions& options) {
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  std::vector<LoglikelihoodRequest> windows = rolling_windows(tokens, prefix, max_length);
  std::vector<LoglikelihoodResult> scored = loglikelihood(model, windows, options);
  RollingResult out;
  for (size_t i = 0; i < windows.size(); ++i) {
    out.logprob += scored[i].logprob;
    out.tokens += int64_t(windows[i].continuation.size());
  }
  return out;
}

}  // namespace kiln::eval
