// The encoder-decoder (the original Transformer, BART, T5): an Encoder (encoder.h) over the
// source and a Decoder (decoder.h) whose blocks cross-attend to the encoder's output, both
// reading one token embedding, which the decoder's head reuses when tied.
//
// Parameter names:
//   shared.weight [vocab, d_model]   the token embedding (Hugging Face's shared.weight)
//   encoder.*                        encoder.h (encoder.embeddings holds no wte)
//   decoder.*                        decoder.h (no wte; blocks.{i}.cross_attn, .ln_cross)
// Hook points: encoder.* and decoder.*.
#pragma once

#include <memory>

#include "core/nn/model.h"
#include "plugins/layers/decoder.h"
#include "plugins/layers/encoder.h"

namespace kiln::layers {

class EncoderDecoder : public nn::Seq2SeqModel {
 public:
  /// shared: the token embedding, registered here; encoder and decoder use it without
  /// registering it.
  EncoderDecoder(std::shared_ptr<TokenEmbedding> shared, std::shared_ptr<Encoder> encoder,
                 std::shared_ptr<Decoder> decoder, int64_t decoder_start);

  Tensor encode(const Tensor& source, nn::ForwardState& state) override;
  /// Decoder logits [B, T, V] of target-side ids, reading state.memory.
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  int64_t d_model() const override { return encoder->d_model(); }
  int64_t decoder_start_token() const override { return decoder_start_; }
  int64_t vocab_size() const override { return decoder->vocab_size(); }
  int64_t context_length() const override { return decoder->context_length(); }
  nn::KVCache make_cache(int64_t batch, int64_t capacity) const override;
  /// The encoder's and the decoder's, each at seq_len (source and target of one length).
  double train_flops_per_token(int64_t seq_len) const override;

  std::shared_ptr<TokenEmbedding> shared;
  std::shared_ptr<Encoder> encoder;
  std::shared_ptr<Decoder> decoder;

 private:
  int64_t decoder_start_;
};

}  // namespace kiln::layers
