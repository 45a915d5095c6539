// Batched autoregressive generation with a KV cache, for `kiln generate`, evaluators
// (generate_until) and RL objectives (rollouts).
//
// The prompts are left-padded to one length and run in one forward (the prefill) that fills
// the cache; then each step feeds one token per row. Padding is hidden from attention with
// ForwardState::key_padding and each row's positions start at its first real token, so a row
// generates exactly what it would alone. Works with any nn::Model that implements make_cache;
// with use_cache = false (or a model without a cache) every step recomputes the whole prefix.
//
// Sampling per row and step: logits / temperature, then top-k, then top-p (nucleus: the
// smallest set of most likely tokens whose probability reaches top_p), then one draw from the
// renormalised distribution. temperature 0 is greedy (argmax, first index at ties). Draws
// come from a Generator seeded with `seed`, one uniform per row per step, so results are
// reproducible and do not depend on the thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/nn/model.h"
#include "core/tensor/random.h"

namespace kiln::generation {

struct GenerateOptions {
  int64_t max_tokens = 128;  ///< new tokens per row at most
  double temperature = 1.0;  ///< 0 = greedy
  int64_t top_k = 0;         ///< keep the k most likely tokens (0 = all)
  double top_p = 1.0;        ///< keep the most likely tokens up to this probability mass (1 = all)
  uint64_t seed = 0;
  /// Draw from this generator instead of a fresh one seeded with `seed` (RL rollouts share one).
  Generator* generator = nullptr;
  /// A row stops when its generated text contains one of these (needs a tokenizer); the text
  /// is cut before it, the tokens keep the one that completed it.
  std::vector<std::string> stop;
  /// A row stops after generating one of these tokens (kept in its tokens).
  std::vector<int32_t> stop_tokens;
  /// Keys/values cached between steps (prefill, then one token a step); false recomputes the
  /// whole prefix every step (for models without a cache, and tests).
  bool use_cache = true;
  /// Encoder-decoders (nn::Seq2SeqModel): the encoder's states [B, S, d] from encode() of the
  /// B sources, one per prompt (the prompts are then the decoder's: decoder_start_token() and
  /// any forced prefix), and their padding (bool [B, S], true at real tokens; optional). Every
  /// forward reads them; the cross-attention keys and values are computed once, in the prefill.
  Tensor memory, memory_padding;
  /// Called for every new token as it is chosen (streaming): row, token id.
  std::function<void(int64_t row, int32_t token)> on_token;
};

enum class FinishReason { length, stop, stop_token, context };
/// "length", "stop", "stop_token", "context".
const char* finish_reason_name(FinishReason r);

struct Generation {
  std::vector<int32_t> tokens;  ///< the new tokens (the prompt not included)
  std::string text;             ///< their text, cut before a stop string (with a tokenizer)
  FinishReason finish = FinishReason::length;
};

/// Continues each prompt (token ids, not empty). tokenizer may be null without stop strings.
/// The model is switched to eval mode for the call and restored; nothing is recorded.
/// Throws when a prompt is empty, holds an id outside the vocabulary, or is longer than the
/// model's context; a row whose prompt plus new tokens would exceed it stops with
/// FinishReason::context.
std::vector<Generation> generate(nn::Model& model, const std::vector<std::vector<int32_t>>& prompts,
                                 const GenerateOptions& options,
                                 const data::Tokenizer* tokenizer = nullptr);

/// The probability distribution sampling draws from for one row of logits, after temperature,
/// top-k and top-p (zeros where filtered out; sums to 1). temperature must be > 0.
std::vector<double> sampling_distribution(const std::vector<double>& logits, double temperature,
                                          int64_t top_k, double top_p);

/// The token a uniform draw u in [0, 1) picks from a distribution (inverse CDF).
int32_t sample_index(const std::vector<double>& probs, double u);

}  // namespace kiln::generation
