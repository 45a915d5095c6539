#include "plugins/layers/heads.h"

#include "core/nn/init.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::layers {

// ---- MLM ------------------------------------------------------------------------------------

MLMHead::MLMHead(int64_t d_model, int64_t d_embed, int64_t vocab, Activation activation,
                 std::shared_ptr<nn::Layer> norm, std::shared_ptr<TokenEmbedding> tied)
    : act_(activation), tied_(std::move(tied)) {
  KILN_CHECK(d_model >= 1 && d_embed >= 1 && vocab >= 1,
             "mlm head: d_model, d_embed and vocab must be >= 1, got ", d_model, ", ", d_embed,
             ", ", vocab);
  KILN_CHECK(activation != Activation::layer, "mlm head: the activation must be a named one");
  if (tied_)
    KILN_CHECK(tied_->weight.size(0) == vocab && tied_->weight.size(1) == d_embed,
               "mlm head: the tied embedding is ", tied_->weight.shape(), ", expected [", vocab,
               ", ", d_embed, "]");
  dense = register_module("dense", std::make_shared<Linear>(d_model, d_embed, true));
  if (norm) ln = register_module("ln", std::move(norm));
  if (!tied_) decoder = register_module("decoder", std::make_shared<Linear>(d_embed, vocab, false));
  bias = register_parameter("bias", zeros({vocab}));
  init_weights(current_init());
}

void MLMHead::init_weights(const InitOptions& o) {
  dense->init_normal(o.std, o.generator);
  if (auto* i = dynamic_cast<Initializable*>(ln.get())) i->init_weights(o);
  if (decoder) decoder->init_normal(o.std, o.generator);
  nn::init::zeros_(bias);
}

const Tensor& MLMHead::decoder_weight() const {
  return tied_ ? tied_->weight : decoder->weight;
}

Tensor MLMHead::forward(const Tensor& h, nn::ForwardState& state) {
  KILN_CHECK(h.dim() >= 1 && h.size(-1) == dense->weight.size(1), "mlm head: expected [..., ",
             dense->weight.size(1), "], got ", h.shape());
  Tensor x = apply_activation(act_, dense->forward(h));
  if (ln) x = ln->forward(x, state);
  return ops::linear(x, decoder_weight(), bias);
}

// ---- sequence classification ----------------------------------------------------------------

SequenceHead::SequenceHead(int64_t d_model, int64_t n_classes, bool with_pooler, Pooling pooling,
                           double dropout)
    : pooling_(pooling), dropout_(dropout) {
  KILN_CHECK(d_model >= 1 && n_classes >= 1,
             "sequence head: d_model and n_classes must be >= 1, got ", d_model, " and ",
             n_classes);
  KILN_CHECK(dropout >= 0 && dropout < 1, "sequence head: dropout must be in [0, 1), got ",
             dropout);
  if (with_pooler)
    pooler = register_module("pooler", std::make_shared<Linear>(d_model, d_model, true));
  classifier = register_module("classifier", std::make_shared<Linear>(d_model, n_classes, true));
  init_weights(current_init());
}

void SequenceHead::init_weights(const InitOptions& o) {
  if (pooler) pooler->init_normal(o.std, o.generator);
  classifier->init_normal(o.std, o.generator);
}

Tensor SequenceHead::forward(const Tensor& h, nn::ForwardState& state) {
  const int64_t d = classifier->weight.size(1);
  KILN_CHECK(h.dim() == 3 && h.size(2) == d && h.size(1) >= 1,
             "sequence head: expected hidden states [B, T, ", d, "] with T >= 1, got ", h.shape());
  Tensor x;
  if (pooling_ == Pooling::first) {
    x = h.select(1, 0);
  } else if (!state.key_padding.defined()) {
    x = ops::mean(h, {1});
  } else {
    const Tensor& kp = state.key_padding;
    KILN_CHECK(kp.dtype() == DType::boolean && kp.dim() == 2 && kp.size(0) == h.size(0) &&
                   kp.size(1) == h.size(1),
               "sequence head: key_padding must be bool [B, T] = [", h.size(0), ", ", h.size(1),
               "], got ", dtype_name(kp.dtype()), " ", kp.shape());
    Tensor w = kp.to(h.dtype()).unsqueeze(2);                    // [B, T, 1]
    Tensor n = ops::clamp(ops::sum(w, {1}), 1.0, std::nullopt);  // [B, 1]
    x = ops::div(ops::sum(ops::mul(h, w), {1}), n);
  }
  if (pooler) x = ops::tanh(pooler->forward(x));
  if (is_training() && dropout_ > 0) x = ops::dropout(x, dropout_, true, state.generator);
  return classifier->forward(x);
}

// ---- token classification -------------------------------------------------------------------

TokenHead::TokenHead(int64_t d_model, int64_t n_classes, bool hidden, Activation activation,
                     double dropout)
    : act_(activation), dropout_(dropout) {
  KILN_CHECK(d_model >= 1 && n_classes >= 1, "token head: d_model and n_classes must be >= 1, got ",
             d_model, " and ", n_classes);
  KILN_CHECK(dropout >= 0 && dropout < 1, "token head: dropout must be in [0, 1), got ", dropout);
  KILN_CHECK(activation != Activation::layer, "token head: the activation must be a named one");
  if (hidden) dense = register_module("dense", std::make_shared<Linear>(d_model, d_model, true));
  classifier = register_module("classifier", std::make_shared<Linear>(d_model, n_classes, true));
  init_weights(current_init());
}

void TokenHead::init_weights(const InitOptions& o) {
  if (dense) dense->init_normal(o.std, o.generator);
  classifier->init_normal(o.std, o.generator);
}

Tensor TokenHead::forward(const Tensor& h, nn::ForwardState& state) {
  const int64_t d = classifier->weight.size(1);
  KILN_CHECK(h.dim() >= 1 && h.size(-1) == d, "token head: expected [..., ", d, "], got ",
             h.shape());
  Tensor x = h;
  if (dense) x = apply_activation(act_, dense->forward(x));
  if (is_training() && dropout_ > 0) x = ops::dropout(x, dropout_, true, state.generator);
  return classifier->forward(x);
}

}  // namespace kiln::layers
