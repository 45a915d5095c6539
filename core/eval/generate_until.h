// generate_until requests, as lm-evaluation-harness asks them of a model: greedy generation
// from a context until one of the stop strings appears or max_tokens new tokens are made; the
// answer is the generated text cut before the first stop string.
//
// Built on generation::generate (batched, left-padded, KV cache). The engine:
//  - cuts each context from the left to fit max_length - max_tokens tokens (the harness's
//    context[-(max_length - max_gen_toks):]), so prompt and answer always fit the model;
//  - groups requests by (stop strings, max_tokens), since one generate() call takes one set,
//    then sorts each group by context length, longest first (ties keep request order), and
//    runs it in batches of batch_size: the batches are a function of the requests and the
//    batch size only;
//  - stops a row at the tokenizer's EOS token too (the harness adds the EOS text to `until`).
// Greedy decoding picks the first index at ties. A row's tokens do not depend on the rows
// beside it as far as the engine goes (generate gives each row its own positions and hides the
// padding with key_padding); the model's forward must also compute each row the same whatever
// the batch: f64 test models do (tests check batch sizes 1, 8 and 32 give identical results).
//
// TextGenerator is the interface evaluators that generate (BBH, AGIEval's math) are written
// against: ModelTextGenerator puts a model behind it through this engine, and tests put an
// oracle behind it without any model compute.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"

namespace kiln::eval {

class RequestCache;

struct GenerateUntilRequest {
  std::vector<int32_t> context;    ///< at least one token
  std::vector<std::string> until;  ///< stop strings (the answer is cut before the first found)
  int64_t max_tokens = 256;        ///< new tokens at most
};

struct GenerateUntilResult {
  std::string text;             ///< the generation, cut before the first stop string
  std::vector<int32_t> tokens;  ///< the tokens generated (the one completing a stop included)
  int64_t context_dropped = 0;  ///< context tokens cut from the left to fit
  std::string finish;           ///< "stop", "stop_token" (EOS), "length" or "context"
};

struct GenerateUntilOptions {
  /// The most tokens prompt + answer may hold; 0 means the model's context_length().
  int64_t max_length = 0;
  /// Requests per generate() call.
  int64_t batch_size = 8;
  /// Stop at the tokenizer's EOS token as well (the harness's default).
  bool stop_at_eos = true;
  /// Generate under ops::BatchInvariant: each request's tokens do not depend on the batch size
  /// or on the other requests of its batch (as LoglikelihoodOptions::batch_invariant).
  bool batch_invariant = true;
  /// Called after each batch with (requests done, requests in all).
  std::function<void(int64_t, int64_t)> progress;
  /// Answers kept on disk (core/eval/request_cache.h), as LoglikelihoodOptions::cache.
  RequestCache* cache = nullptr;
};

/// Greedy generation for every request; results in the order of `requests`. Throws
/// kiln::Error for an empty context, a max_tokens outside [1, max_length - 1], or a token
/// outside the model's vocabulary.
std::vector<GenerateUntilResult> generate_until(nn::Model& model, const data::Tokenizer& tokenizer,
                                                const std::vector<GenerateUntilRequest>& requests,
                                                const GenerateUntilOptions& options = {});

/// Text with every ill-formed UTF-8 subsequence replaced by U+FFFD, maximal subparts as
/// Python's bytes.decode("utf-8", errors="replace") (a byte-level model can emit any bytes;
/// answers are text, and samples.jsonl must be valid JSON).
std::string valid_utf8(std::string_view bytes);

/// A generate_until request in text.
struct TextRequest {
  std::string context;
  std::vector<std::string> until;
  int64_t max_tokens = 256;
};

/// What a generating evaluator needs: the answers to text requests, in order.
class TextGenerator {
 public:
  virtual ~TextGenerator() = default;
  virtual std::vector<std::string> generate(const std::vector<TextRequest>& requests) = 0;
};

/// A model and its tokenizer behind TextGenerator: each context is encoded whole (after
/// `prefix`, a BOS token, when given) and run through generate_until.
class ModelTextGenerator final : public TextGenerator {
 public:
  ModelTextGenerator(nn::Model& model, const data::Tokenizer& tokenizer,
                     GenerateUntilOptions options = {}, std::optional<int32_t> prefix = {})
      : model_(model), tokenizer_(tokenizer), options_(std::move(options)), prefix_(prefix) {}
  std::vector<std::string> generate(const std::vector<TextRequest>& requests) override;
  /// Context tokens cut from the left, summed over the requests of the last generate().
  int64_t context_dropped() const { return dropped_; }
  /// Requests whose context was cut, in the last generate().
  int64_t contexts_truncated() const { return truncated_; }

 private:
  nn::Model& model_;
  const data::Tokenizer& tokenizer_;
  GenerateUntilOptions options_;
  std::optional<int32_t> prefix_;
  int64_t dropped_ = 0, truncated_ = 0;
};

}  // namespace kiln::eval
