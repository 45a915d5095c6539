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
/// whole sequence, [PAD] keys masked through ForwardState::key_padding. forward() gives the
/// LM head's logits [B, T, V] (the MLM head); heads for classification read encode().
class EncoderModel : public Model {
 public:
  /// The final hidden states [B, T, d_model].
  virtual Tensor encode(const Tensor& tokens, ForwardState& state) = 0;
  virtual int64_t d_model() const = 0;
};

/// Encoder-decoder models (BART, T5). encode() gives the memory that the decoder's
/// cross-attention reads; forward() is the decoder: logits [B, T, V] for target-side ids,
/// reading state.memory (and state.memory_padding), so generation with a KV cache works as
/// for a decoder once the memory is set.
class Seq2SeqModel : public Model {
 public:
  /// Encoder states [B, S, d_model] of source ids [B, S] (state.key_padding: the source's real
  /// tokens).
  virtual Tensor encode(const Tensor& source, ForwardState& state) = 0;
  virtual int64_t d_model() const = 0;
};

}  // namespace kiln::nn
