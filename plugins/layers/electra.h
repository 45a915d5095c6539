// ELECTRA (Clark et al. 2020): a generator, a small MLM encoder, and a discriminator encoder
// that share the input embeddings (token, position and type embeddings and their norm; each
// has its own projection to its width when that differs from d_embed). The generator is a
// fraction of the discriminator's size (width, heads and MLP width; ELECTRA-base: 1/3), its MLM
// head projects back to d_embed and decodes with the shared token embedding. The
// discriminator's head (dense + GELU + a linear to one logit) gives each token a logit of being
// replaced.
//
// Parameter names (the embeddings are stored once, here):
//   embeddings.*            embeddings.h
//   discriminator.*         encoder.h, without embeddings and heads
//   discriminator_head.*    heads.h TokenHead: dense [H, H], classifier [1, H]
//   generator.*             encoder.h, without embeddings; generator.mlm_head.* its MLM head
#pragma once

#include <memory>

#include "core/nn/model.h"
#include "plugins/layers/encoder.h"
#include "plugins/layers/heads.h"

namespace kiln::layers {

class Electra : public nn::ElectraModel {
 public:
  /// The discriminator and the generator must read `embeddings` without owning them; the
  /// generator needs an MLM head.
  Electra(std::shared_ptr<Embeddings> embeddings, std::shared_ptr<Encoder> discriminator,
          std::shared_ptr<TokenHead> discriminator_head, std::shared_ptr<Encoder> generator);

  /// The discriminator's hidden states [B, T, d_model].
  Tensor encode(const Tensor& tokens, nn::ForwardState& state) override;
  /// The generator's MLM logits [B, T, V].
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  /// Throws: the MLM head reads the generator's states, not encode()'s; use generator().
  Tensor mlm_logits(const Tensor& hidden) override;
  nn::EncoderModel& generator() override { return *generator_; }
  Tensor discriminator_logits(const Tensor& hidden) override;
  int64_t d_model() const override { return discriminator->d_model(); }
  int64_t vocab_size() const override { return embeddings->vocab(); }
  int64_t context_length() const override { return discriminator->context_length(); }
  double train_flops_per_token(int64_t seq_len) const override;

  std::shared_ptr<Embeddings> embeddings;
  std::shared_ptr<Encoder> discriminator;
  std::shared_ptr<TokenHead> discriminator_head;

 private:
  std::shared_ptr<Encoder> generator_;
};

}  // namespace kiln::layers
