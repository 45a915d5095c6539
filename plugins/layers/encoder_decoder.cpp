#include "plugins/layers/encoder_decoder.h"

namespace kiln::layers {

EncoderDecoder::EncoderDecoder(std::shared_ptr<TokenEmbedding> shared_,
                               std::shared_ptr<Encoder> encoder_, std::shared_ptr<Decoder> decoder_,
                               int64_t decoder_start)
    : decoder_start_(decoder_start) {
  KILN_CHECK(shared_ && encoder_ && decoder_,
             "encoder_decoder: the shared embedding, the encoder and the decoder are required");
  KILN_CHECK(
      encoder_->embeddings->wte.get() == shared_.get() && decoder_->wte.get() == shared_.get(),
      "encoder_decoder: the encoder and the decoder must read the shared token embedding");
  KILN_CHECK(decoder_start >= 0 && decoder_start < shared_->vocab(),
             "encoder_decoder: decoder_start (", decoder_start, ") is outside the vocabulary of ",
             shared_->vocab());
  shared = register_module("shared", std::move(shared_));
  encoder = register_module("encoder", std::move(encoder_));
  decoder = register_module("decoder", std::move(decoder_));
}

Tensor EncoderDecoder::encode(const Tensor& source, nn::ForwardState& state) {
  return encoder->encode(source, state);
}

Tensor EncoderDecoder::forward(const Tensor& tokens, nn::ForwardState& state) {
  KILN_CHECK(state.memory.defined(),
             "encoder_decoder: forward() is the decoder and reads the encoder's output from "
             "state.memory: set state.memory = encode(source) (and state.memory_padding to the "
             "source's real tokens)");
  return decoder->forward(tokens, state);
}

nn::KVCache EncoderDecoder::make_cache(int64_t batch, int64_t capacity) const {
  return decoder->make_cache(batch, capacity);
}

double EncoderDecoder::train_flops_per_token(int64_t seq_len) const {
  return encoder->train_flops_per_token(seq_len) + decoder->train_flops_per_token(seq_len);
}

}  // namespace kiln::layers
