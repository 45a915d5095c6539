// The input embeddings of an encoder (BERT, RoBERTa, ALBERT, ELECTRA, BART's and T5's
// encoders): token + absolute position + token type (sentence A/B) embeddings, all of width
// d_embed, then an optional norm and dropout. ALBERT's factorised embedding keeps d_embed
// small (128) and the encoder projects it to d_model (Encoder::embed_proj); ELECTRA's
// generator and discriminator share one Embeddings.
//
// Parameters (Hugging Face's BertEmbeddings, renamed as the decoder's):
//   wte.weight [vocab, d_embed]          word_embeddings (owned here, or the parent's when shared)
//   wpe.weight [context, d_embed]        position_embeddings (learned positions)
//   token_type.weight [n_types, d_embed] token_type_embeddings (n_types > 0)
//   ln.weight / .bias [d_embed]          LayerNorm (when there is a norm)
// Hook points: hook_embed (tokens, after the scale), hook_pos_embed, hook_type_embed, and the
// norm's hook_normalized.
#pragma once

#include <memory>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

class Embeddings : public nn::Layer {
 public:
  /// wte: the token embedding, registered here when own_wte (an encoder-decoder shares its own
  /// between encoder and decoder); pos: an absolute scheme or null (relative schemes act in
  /// attention); n_types: token types, 0 for none; norm may be null; scale multiplies the token
  /// embeddings (BART-large: sqrt(d_model)).
  Embeddings(std::shared_ptr<TokenEmbedding> wte, bool own_wte, std::shared_ptr<Positions> pos,
             int64_t n_types, std::shared_ptr<nn::Layer> norm, double dropout, double scale = 1.0);
  /// ids i64 [B, T] -> [B, T, d_embed]; positions from state.positions (else 0..T-1), token
  /// types from state.token_types (else 0).
  Tensor forward(const Tensor& ids, nn::ForwardState& state) override;
  int64_t d_embed() const { return wte->weight.size(1); }
  int64_t vocab() const { return wte->vocab(); }
  int64_t n_types() const { return token_type ? token_type->vocab() : 0; }

  std::shared_ptr<TokenEmbedding> wte;
  std::shared_ptr<Positions> wpe;              // absolute positions only
  std::shared_ptr<TokenEmbedding> token_type;  // n_types > 0
  std::shared_ptr<nn::Layer> ln;               // may be null

 private:
  double dropout_, scale_;
  nn::HookPoint *hook_embed_, *hook_pos_embed_, *hook_type_embed_;
};

}  // namespace kiln::layers
