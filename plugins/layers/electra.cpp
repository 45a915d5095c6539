#include "plugins/layers/electra.h"

namespace kiln::layers {

Electra::Electra(std::shared_ptr<Embeddings> embeddings_, std::shared_ptr<Encoder> discriminator_,
                 std::shared_ptr<TokenHead> discriminator_head_, std::shared_ptr<Encoder> generator)
    : generator_(std::move(generator)) {
  KILN_CHECK(embeddings_ && discriminator_ && discriminator_head_ && generator_,
             "electra: embeddings, discriminator, its head and generator are required");
  KILN_CHECK(discriminator_->embeddings == embeddings_ && generator_->embeddings == embeddings_,
             "electra: the generator and the discriminator must share the embeddings");
  KILN_CHECK(generator_->mlm_head, "electra: the generator needs an MLM head");
  embeddings = register_module("embeddings", std::move(embeddings_));
  discriminator = register_module("discriminator", std::move(discriminator_));
  discriminator_head = register_module("discriminator_head", std::move(discriminator_head_));
  register_module("generator", generator_);
  for (const auto& [name, p] : discriminator->named_parameters())
    KILN_CHECK(!name.starts_with("embeddings."),
               "electra: the discriminator must not own the "
               "shared embeddings");
}

Tensor Electra::encode(const Tensor& tokens, nn::ForwardState& state) {
  return discriminator->encode(tokens, state);
}

Tensor Electra::forward(const Tensor& tokens, nn::ForwardState& state) {
  return generator_->forward(tokens, state);
}

Tensor Electra::mlm_logits(const Tensor&) {
  KILN_FAIL(
      "electra: the MLM head is the generator's and reads the generator's hidden states: use "
      "generator().forward(tokens), or generator().mlm_logits(generator().encode(tokens)); "
      "encode() gives the discriminator's");
}

Tensor Electra::discriminator_logits(const Tensor& hidden) {
  nn::ForwardState st;
  return discriminator_head->forward(hidden, st).squeeze(-1);
}

double Electra::train_flops_per_token(int64_t seq_len) const {
  return discriminator->train_flops_per_token(seq_len) +
         generator_->train_flops_per_token(seq_len) +
         6.0 * double(discriminator_head->num_parameters());
}

}  // namespace kiln::layers
