// Models: the "model" component kind, a whole network from token ids to logits.
#pragma once

#include "core/nn/layer.h"

namespace kiln::nn {

class Model : public Module {
 public:
  /// Logits [B, T, V] for token ids [B, T] (i64).
  virtual Tensor forward(const Tensor& tokens, ForwardState& state) = 0;
  virtual int64_t vocab_size() const = 0;
  /// The most positions one forward (or a KV cache) may hold.
  virtual int64_t context_length() const = 0;
  /// An empty KV cache for `batch` sequences of up to `capacity` positions (models that can
  /// generate override this; the default throws).
  virtual KVCache make_cache(int64_t batch, int64_t capacity) const;
  /// FLOPs of forward + backward per token at sequence length T (for MFU): 6 per parameter
  /// multiply-add of the matmuls plus the attention scores, as in the PaLM appendix.
  virtual double train_flops_per_token(int64_t seq_len) const = 0;
};

/// Encoder-only models (BERT, RoBERTa, ALBERT, ELECTRA): bidirectional attention over the
/// whole sequence, [PAD] keys masked through ForwardState::key_padding, sentence A/B through
/// ForwardState::token_types. forward() gives the MLM head's logits [B, T, V], i.e.
/// mlm_logits(encode()); an objective that needs several heads runs encode() once and applies
/// each head to its hidden states (an MLM head may be given only the masked rows).
class EncoderModel : public Model {
 public:
  /// The final hidden states [B, T, d_model].
  virtual Tensor encode(const Tensor& tokens, ForwardState& state) = 0;
  /// The MLM head: logits [..., V] of hidden states [..., d_model] from encode().
  virtual Tensor mlm_logits(const Tensor& hidden) = 0;
  /// The sentence-level head (NSP, SOP): logits [B, sentence_classes()] of hidden states
  /// [B, T, d_model] from encode(), read at the first position ([CLS]). The default throws:
  /// a model without one has sentence_classes() == 0.
  virtual Tensor sentence_logits(const Tensor& hidden);
  virtual int64_t sentence_classes() const { return 0; }
  virtual int64_t d_model() const = 0;
  /// mlm_logits(encode(tokens, state)).
  Tensor forward(const Tensor& tokens, ForwardState& state) override;
};

/// ELECTRA (Clark et al. 2020): a small generator (an MLM) and a discriminator that share the
/// token embeddings. The rtd objective masks the input, trains generator() with MLM, samples
/// replacements from its logits (no gradient through the sampling), and trains the
/// discriminator to tell replaced tokens from original ones: discriminator_logits(encode()).
/// encode() is the discriminator's hidden states (what fine-tuning reads); forward() and
/// mlm_logits() are the generator's (forward(tokens) == generator().forward(tokens)).
class ElectraModel : public EncoderModel {
 public:
  /// The generator, an MLM. Its parameters are part of this model; the token embeddings it
  /// shares are registered once, under this model's discriminator side.
  virtual EncoderModel& generator() = 0;
  /// Per-token logits [B, T] (> 0: "replaced") of the discriminator's hidden states [B, T, d]
  /// from encode().
  virtual Tensor discriminator_logits(const Tensor& hidden) = 0;
};

/// Encoder-decoder models (BART, T5). encode() gives the memory that the decoder's
/// cross-attention reads; forward() is the decoder: logits [B, T, V] for target-side ids,
/// reading state.memory (and state.memory_padding), so generation with a KV cache works as
/// for a decoder once the memory is set (GenerateOptions::memory). The cross-attention keys
/// and values of the memory are computed once per KV cache and kept in it.
///
/// Keys: encode() reads state.key_padding as the source's padding; forward() reads
/// state.memory_padding for the source and state.key_padding for the target's own keys, so use
/// one ForwardState for encode() and another for forward().
class Seq2SeqModel : public Model {
 public:
  /// Encoder states [B, S, d_model] of source ids [B, S] (state.key_padding: the source's real
  /// tokens).
  virtual Tensor encode(const Tensor& source, ForwardState& state) = 0;
  virtual int64_t d_model() const = 0;
  /// The id the decoder's input starts with (targets shifted right by one: T5 uses the pad id
  /// 0, BART the </s> id 2); the model's spec sets it.
  virtual int64_t decoder_start_token() const = 0;
};

/// Bidirectional language models (ELMo's biLM, Peters et al. 2018): a forward LM and a
/// backward LM over the same tokens, sharing the token embedding and the softmax. forward()
/// is the forward LM, logits [B, T, V] where position t predicts token t + 1 (as a decoder's,
/// so causal_lm and perplexity work unchanged); the backward LM's position t predicts token
/// t - 1. The bilm objective adds the two losses.
class BiLMModel : public Model {
 public:
  struct Logits {
    Tensor forward;   ///< [B, T, V]: position t predicts token t + 1
    Tensor backward;  ///< [B, T, V]: position t predicts token t - 1
  };
  /// Both directions in one call.
  virtual Logits bidirectional_logits(const Tensor& tokens, ForwardState& state) = 0;
  /// The top layer's forward and backward states, concatenated: [B, T, 2 d] (ELMo features).
  virtual Tensor encode(const Tensor& tokens, ForwardState& state) = 0;
};

}  // namespace kiln::nn
