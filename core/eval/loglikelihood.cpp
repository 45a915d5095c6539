#include "core/eval/loglikelihood.h"

#include <algorithm>
#include <atomic>
#include <functional>
#include <map>
#include <numeric>
#include <string>

#include "core/autograd/autograd.h"
#include "core/eval/request_cache.h"
#include "core/eval/windows.h"
#include "core/ops/batch_invariant.h"
#include "core/ops/index.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::eval {
namespace {

// The tokens the model reads for a request: (context + continuation)[-(max_length + 1):][:-1];
// the predictions at its last continuation.size() positions are scored.
std::vector<int32_t> model_input(const LoglikelihoodRequest& r, size_t index, int64_t max_length,
                                 int64_t vocab) {
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
  return std::vector<int32_t>(all.end() - keep, all.end() - 1);
}

// One forward row: the tokens read, the requests that read them (indices), and how many of
// its last positions are scored (the longest continuation among them).
struct Row {
  const std::vector<int32_t>* input;
  std::vector<size_t> requests;
  int64_t scored;
};

// The first index of the largest value (torch.argmax's choice at ties, which decides the
// harness's is_greedy).
int32_t first_argmax(const double* x, int64_t n) {
  int64_t best = 0;
  for (int64_t v = 1; v < n; ++v)
    if (x[v] > x[best]) best = v;
  return int32_t(best);
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

std::vector<LoglikelihoodRequest> encode_pairs(const data::Tokenizer& tokenizer,
                                               std::string_view context,
                                               const std::vector<std::string>& continuations,
                                               std::optional<int32_t> prefix) {
  auto is_space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  size_t cut = context.size();
  while (cut > 0 && is_space(context[cut - 1])) --cut;
  const std::string_view moved = context.substr(cut);
  context = context.substr(0, cut);
  std::vector<int32_t> ctx;
  if (prefix) ctx.push_back(*prefix);
  if (!context.empty()) {
    const std::vector<int32_t> c = tokenizer.encode(context);
    ctx.insert(ctx.end(), c.begin(), c.end());
  } else {
    KILN_CHECK(prefix,
               "loglikelihood: an empty context needs a prefix token (BOS/EOS) to condition the "
               "continuation on, and none was given");
  }
  const size_t own = ctx.size() - (prefix ? 1 : 0);  // the context's own tokens
  std::vector<LoglikelihoodRequest> out;
  out.reserve(continuations.size());
  for (const std::string& continuation : continuations) {
    std::string cont(moved);
    cont += continuation;
    LoglikelihoodRequest r;
    r.context = ctx;
    if (context.empty()) {
      r.continuation = tokenizer.encode(cont);
    } else {
      std::string whole(context);
      whole += cont;
      const std::vector<int32_t> all = tokenizer.encode(whole);
      if (all.size() > own) r.continuation.assign(all.begin() + long(own), all.end());
    }
    KILN_CHECK(!r.continuation.empty(), "loglikelihood: the continuation \"", continuation,
               "\" encodes to no token after its context");
    out.push_back(std::move(r));
  }
  return out;
}

LoglikelihoodRequest encode_pair(const data::Tokenizer& tokenizer, std::string_view context,
                                 std::string_view continuation, std::optional<int32_t> prefix) {
  return std::move(encode_pairs(tokenizer, context, {std::string(continuation)}, prefix).front());
}

namespace {
std::atomic<int64_t> g_loglikelihood{0}, g_generate_until{0}, g_cached{0};
}  // namespace

RequestCounts request_counts() {
  return {g_loglikelihood.load(), g_generate_until.load(), g_cached.load()};
}

void count_requests(int64_t loglikelihood, int64_t generate_until, int64_t cached) {
  g_loglikelihood += loglikelihood;
  g_generate_until += generate_until;
  g_cached += cached;
}

Device model_device(const nn::Model& model) {
  std::vector<Tensor> params = model.parameters();
  return params.empty() ? Device::cpu() : params.front().device();
}

namespace {

// The engine without the cache; on_batch(indices) is called after each batch with the
// requests it answered (their results complete, token log-probs included).
std::vector<LoglikelihoodResult> run_requests(
    nn::Model& model, const std::vector<LoglikelihoodRequest>& requests,
    const LoglikelihoodOptions& options,
    const std::function<void(const std::vector<size_t>&, const std::vector<LoglikelihoodResult>&)>&
        on_batch) {
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  KILN_CHECK(max_length >= 1 && max_length <= model.context_length(), "loglikelihood: max_length ",
             max_length, " must lie in [1, ", model.context_length(),
             "] (the model's context length)");
  KILN_CHECK(options.batch_size >= 1, "loglikelihood: batch size must be >= 1, got ",
             options.batch_size);
  const int64_t V = model.vocab_size();
  // Requests that make the model read the same tokens share one forward row: MMLU's four
  // answers (" A" .. " D") after one prompt are one row, scored at its last position four
  // ways. A row's computation is the same whichever requests read it.
  // Only the distinct inputs are kept (the map's keys, whose addresses are stable).
  std::vector<Row> rows;
  std::map<std::vector<int32_t>, size_t> row_of;
  for (size_t i = 0; i < requests.size(); ++i) {
    auto [it, inserted] =
        row_of.try_emplace(model_input(requests[i], i, max_length, V), rows.size());
    if (inserted) rows.push_back(Row{&it->first, {}, 0});
    Row& row = rows[it->second];
    row.requests.push_back(i);
    row.scored = std::max(row.scored, int64_t(requests[i].continuation.size()));
  }
  // Longest first (an out-of-memory shows on the first batch, and padding stays small); ties
  // keep first-appearance order, so the batches are a function of the requests and the batch
  // size only.
  std::stable_sort(rows.begin(), rows.end(),
                   [](const Row& a, const Row& b) { return a.input->size() > b.input->size(); });

  std::vector<LoglikelihoodResult> results(requests.size());
  const Device device = model_device(model);
  autograd::NoGrad no_grad;
  ops::BatchInvariant invariant(options.batch_invariant);
  EvalMode eval_mode(model);
  const int64_t total_rows = int64_t(rows.size()), total = int64_t(requests.size());
  int64_t done = 0;
  for (int64_t start = 0; start < total_rows; start += options.batch_size) {
    const int64_t B = std::min(options.batch_size, total_rows - start);
    const int64_t T = int64_t(rows[size_t(start)].input->size());
    // Right padding: a causal model's prediction at a position never sees the positions after
    // it. The padding token is 0 and its predictions are never read.
    std::vector<int64_t> ids(size_t(B * T), 0);
    for (int64_t b = 0; b < B; ++b) {
      const std::vector<int32_t>& in = *rows[size_t(start + b)].input;
      for (size_t t = 0; t < in.size(); ++t) ids[size_t(b * T) + t] = in[t];
    }
    nn::ForwardState state;
    Tensor logits = model.forward(from_vector(ids, {B, T}, device), state);
    KILN_CHECK(
        logits.dim() == 3 && logits.size(0) == B && logits.size(1) == T && logits.size(2) == V,
        "loglikelihood: the model returned logits of shape ", logits.shape(), " for tokens [", B,
        ", ", T, "]; expected [", B, ", ", T, ", ", V, "]");
    // Only the scored positions of each row are read: their logits (views), in f64, through
    // log_softmax, in chunks of at most kChunk elements so that a long window of a large
    // vocabulary never needs [B, T, V] in f64 at once. log_softmax works row by row, so a
    // position's log-probs do not depend on the chunk it falls in.
    constexpr int64_t kChunk = int64_t(1) << 22;
    const int64_t chunk_rows = std::max<int64_t>(1, kChunk / V);
    struct Piece {
      int64_t row, first, count;  // row of the batch, first position, positions
    };
    std::vector<Piece> pieces;
    for (int64_t b = 0; b < B; ++b) {
      const Row& row = rows[size_t(start + b)];
      const int64_t n = int64_t(row.input->size());
      for (int64_t p = n - row.scored; p < n; p += chunk_rows)
        pieces.push_back({b, p, std::min(chunk_rows, n - p)});
    }
    // Each request's per-token log-probs, filled chunk by chunk (never a row's whole
    // distributions at once), then summed in the continuation's order.
    for (int64_t b = 0; b < B; ++b) {
      const Row& row = rows[size_t(start + b)];
      for (size_t index : row.requests) {
        results[index].greedy = true;
        results[index].token_logprobs.assign(requests[index].continuation.size(), 0.0);
      }
    }
    for (size_t i = 0; i < pieces.size();) {
      std::vector<Tensor> views;
      size_t j = i;
      for (int64_t n = 0; j < pieces.size() && n + pieces[j].count <= chunk_rows; ++j) {
        views.push_back(
            logits.select(0, pieces[j].row).narrow(0, pieces[j].first, pieces[j].count));
        n += pieces[j].count;
      }
      Tensor chunk = views.size() == 1 ? views[0] : ops::concat(views, 0);
      const std::vector<double> lp =
          ops::log_softmax(chunk.to(DType::f64).contiguous(), -1).to_vector<double>();
      size_t at = 0;
      for (size_t q = i; q < j; ++q) {
        const Piece& pc = pieces[q];
        const Row& row = rows[size_t(start + pc.row)];
        const int64_t n = int64_t(row.input->size());
        for (size_t index : row.requests) {
          const std::vector<int32_t>& targets = requests[index].continuation;
          const int64_t k = int64_t(targets.size());
          LoglikelihoodResult& r = results[index];
          // The request scores positions n - k .. n - 1; this piece holds pc.first ..
          for (int64_t p = std::max(pc.first, n - k); p < pc.first + pc.count; ++p) {
            const double* dist = lp.data() + at + size_t((p - pc.first) * V);
            const int32_t target = targets[size_t(p - (n - k))];
            r.token_logprobs[size_t(p - (n - k))] = dist[target];
            if (first_argmax(dist, V) != target) r.greedy = false;
          }
        }
        at += size_t(pc.count * V);
      }
      i = j;
    }
    std::vector<size_t> answered;
    for (int64_t b = 0; b < B; ++b) {
      const Row& row = rows[size_t(start + b)];
      for (size_t index : row.requests) {
        LoglikelihoodResult& r = results[index];
        // f64 sum in the continuation's order: the same whatever batch the request ran in.
        for (double v : r.token_logprobs) r.logprob += v;
        answered.push_back(index);
      }
      done += int64_t(row.requests.size());
    }
    if (on_batch) on_batch(answered, results);
    if (!options.token_logprobs)
      for (size_t index : answered) std::vector<double>().swap(results[index].token_logprobs);
    if (options.progress) options.progress(done, total);
  }
  return results;
}

}  // namespace

std::vector<LoglikelihoodResult> loglikelihood(nn::Model& model,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               const LoglikelihoodOptions& options) {
  count_requests(int64_t(requests.size()), 0, 0);
  if (!options.cache) return run_requests(model, requests, options, nullptr);
  // Answers the cache holds are not computed again; the others are computed and kept, batch by
  // batch, as they come.
  RequestCache& cache = *options.cache;
  const int64_t max_length = options.max_length > 0 ? options.max_length : model.context_length();
  std::vector<std::string> keys(requests.size());
  for (size_t i = 0; i < requests.size(); ++i) {
    const LoglikelihoodRequest& r = requests[i];
    std::vector<int64_t> fields = {max_length, options.batch_invariant ? 1 : 0,
                                   int64_t(r.context.size())};
    fields.insert(fields.end(), r.context.begin(), r.context.end());
    fields.push_back(int64_t(r.continuation.size()));
    fields.insert(fields.end(), r.continuation.begin(), r.continuation.end());
    keys[i] = cache.key("loglikelihood", fields);
  }
  std::vector<LoglikelihoodResult> results = through_cache<LoglikelihoodRequest, LoglikelihoodResult>(
      cache, requests, keys, options,
      [&](const std::string& key) { return cache.find_loglikelihood(key); },
      [&](const std::vector<LoglikelihoodRequest>& todo, const LoglikelihoodOptions& o,
          const auto& on_batch) { return run_requests(model, todo, o, on_batch); });
  // A cached answer holds the per-token log-probs even when these options ask for none.
  if (!options.token_logprobs)
    for (LoglikelihoodResult& r : results) std::vector<double>().swap(r.token_logprobs);
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
