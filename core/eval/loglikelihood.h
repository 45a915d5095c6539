// Log-likelihood requests, as lm-evaluation-harness asks them of a model: the summed log-prob
// of a continuation given a context (loglikelihood), and of a whole document scored in windows
// no longer than the model's context (loglikelihood_rolling). Evaluators build on these;
// generation requests (generate_until) are in core/eval/generate_until.h.
//
// Requests whose model input is the same (multiple-choice answers of one token after one
// prompt) share one forward row. Results do not depend on the batch size, bit for bit: rows are
// batched by length (longest first, right-padded; a causal model's prediction at a position
// does not see the padding after it), the scored positions are read back per row, put through
// log_softmax in f64 row by row, and summed in f64 in the request's own token order. The
// model's forward must also compute each row the same whatever the rows beside it and the
// padding after it. kiln's kernels do so in f64; in f32 oneDNN's matmul rounds a row by its place
// in its tiles, so the engine runs the model under ops::BatchInvariant
// (LoglikelihoodOptions::batch_invariant, on by default), which puts matmul on kiln's
// register-tiled kernel (each output one multiply-add chain over k, in order); the fused
// attention (whose key tiles start at a row's first shown key), the norms and the elementwise
// ops are per row already.
// The tests check identical results for batch sizes 1, 8 and 32 with real kernels in f32.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"

namespace kiln::eval {

class RequestCache;

/// log p(continuation | context): the model reads (context + continuation) without its last
/// token, and the predictions at the last continuation.size() positions are scored. When the
/// two together are longer than max_length + 1 tokens the context is cut from the left, as
/// lm-evaluation-harness does.
struct LoglikelihoodRequest {
  std::vector<int32_t> context;  ///< at least one token (a bare continuation gets the prefix token)
  std::vector<int32_t> continuation;  ///< the scored tokens: 1..max_length of them
};

struct LoglikelihoodResult {
  double logprob = 0;                  ///< sum of the continuation's log-probs (natural log)
  bool greedy = false;                 ///< whether argmax decoding reproduces the continuation
  std::vector<double> token_logprobs;  ///< per continuation token, when asked for
};

struct LoglikelihoodOptions {
  /// The most tokens one forward pass reads; 0 means the model's context_length().
  int64_t max_length = 0;
  /// Requests per forward pass.
  int64_t batch_size = 8;
  /// Keep each continuation token's log-prob in the result.
  bool token_logprobs = false;
  /// Run the model under ops::BatchInvariant, so that a request scores bit for bit the same in
  /// any batch (about 15% slower in f32, measured on the char GPT-2; false: oneDNN's GEMM).
  bool batch_invariant = true;
  /// Called after each batch with (requests done, requests in all).
  std::function<void(int64_t, int64_t)> progress;
  /// Answers kept on disk (core/eval/request_cache.h): requests it holds are not computed, the
  /// others are added to it after each batch. Null: no cache.
  RequestCache* cache = nullptr;
};

/// A request from text, tokenised as lm-evaluation-harness's _encode_pair: trailing whitespace
/// of the context (ASCII) moves to the front of the continuation; then the context is encoded
/// alone and the continuation is what encoding context + continuation whole gives after the
/// context's token count. Encoding whole (rather than the continuation alone) lets a
/// tokenizer merge across the boundary exactly as it does in running text, which is what the
/// harness scores. With `prefix` (a BOS token) the context starts with it; an empty context
/// becomes [prefix] alone, as the harness's prefix_token_id, and is an error without one.
/// Throws when the continuation encodes to no token.
LoglikelihoodRequest encode_pair(const data::Tokenizer& tokenizer, std::string_view context,
                                 std::string_view continuation,
                                 std::optional<int32_t> prefix = std::nullopt);
/// encode_pair of one context with each continuation (the context encoded once).
std::vector<LoglikelihoodRequest> encode_pairs(const data::Tokenizer& tokenizer,
                                               std::string_view context,
                                               const std::vector<std::string>& continuations,
                                               std::optional<int32_t> prefix = std::nullopt);

/// Scores every request; results come back in the order of `requests`. Runs without
/// gradients and with the model in eval mode (its mode is restored after). Throws kiln::Error
/// for an empty context or continuation, a continuation longer than max_length, or a token
/// outside the model's vocabulary.
std::vector<LoglikelihoodResult> loglikelihood(nn::Model& model,
                                               const std::vector<LoglikelihoodRequest>& requests,
                                               const LoglikelihoodOptions& options = {});

/// Sum of the log-probs of every token of a document, scored in rolling_windows (the first
/// token conditioned on `prefix`; without one, the first token is context only and unscored).
/// Returns the sum and the number of tokens scored.
struct RollingResult {
  double logprob = 0;
  int64_t tokens = 0;
};
RollingResult loglikelihood_rolling(nn::Model& model, std::span<const int32_t> tokens,
                                    std::optional<int32_t> prefix,
                                    const LoglikelihoodOptions& options = {});

/// The model's device (that of its first parameter; CPU when it has none).
Device model_device(const nn::Model& model);

/// Requests the engine answered in this process so far, by kind, and how many of them came
/// from a RequestCache (`kiln eval` prints the rate).
struct RequestCounts {
  int64_t loglikelihood = 0, generate_until = 0, cached = 0;
};
RequestCounts request_counts();
/// Adds to the counts (the engine's functions call it).
void count_requests(int64_t loglikelihood, int64_t generate_until, int64_t cached);

}  // namespace kiln::eval
