// Heads that read an encoder's hidden states [B, T, d_model]:
//   MLMHead       BERT's masked-LM head: dense [d_embed, d_model], activation, norm over d_embed,
//                 then the decoder onto the vocabulary (the token embedding's transpose when
//                 tied) plus a bias [vocab]. With d_embed < d_model (ALBERT, ELECTRA's
//                 generator) the dense projects down to the embedding width.
//   SequenceHead  sequence classification (GLUE; NSP/SOP with 2 classes): the first token's
//                 state ([CLS]) or the mean over real tokens, an optional pooler (dense + tanh,
//                 BERT's), dropout, a linear classifier -> [B, n_classes].
//   TokenHead     token classification (NER; ELECTRA's discriminator with 1 class and a hidden
//                 dense + activation; span prediction with 2 classes: start and end logits)
//                 -> [B, T, n_classes].
//
// Parameters:
//   MLMHead:      dense.weight [E, H], dense.bias, ln.weight/.bias [E], bias [V],
//                 decoder.weight [V, E] (untied only)
//   SequenceHead: pooler.weight [H, H], pooler.bias (with a pooler), classifier.weight [C, H],
//                 classifier.bias
//   TokenHead:    dense.weight [H, H], dense.bias (with a hidden layer), classifier.weight [C, H],
//                 classifier.bias
#pragma once

#include <memory>

#include "core/nn/layer.h"
#include "plugins/layers/common.h"
#include "plugins/layers/mlp.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

class MLMHead : public nn::Layer, public Initializable {
 public:
  /// tied: the token embedding [vocab, d_embed] the decoder reuses (not registered here), or
  /// null for an own decoder.weight. norm may be null.
  MLMHead(int64_t d_model, int64_t d_embed, int64_t vocab, Activation activation,
          std::shared_ptr<nn::Layer> norm, std::shared_ptr<TokenEmbedding> tied);
  /// h [..., d_model] -> logits [..., vocab].
  Tensor forward(const Tensor& h, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;
  /// The decoder matrix [vocab, d_embed] (the tied embedding's or the own one).
  const Tensor& decoder_weight() const;

  std::shared_ptr<Linear> dense, decoder;
  std::shared_ptr<nn::Layer> ln;
  nn::Parameter bias;

 private:
  Activation act_;
  std::shared_ptr<TokenEmbedding> tied_;
};

enum class Pooling { first, mean };

class SequenceHead : public nn::Layer, public Initializable {
 public:
  SequenceHead(int64_t d_model, int64_t n_classes, bool pooler, Pooling pooling, double dropout);
  /// h [B, T, d_model] -> [B, n_classes]. Mean pooling averages the positions where
  /// state.key_padding is true (every position when it is unset).
  Tensor forward(const Tensor& h, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;
  int64_t n_classes() const { return classifier->weight.size(0); }

  std::shared_ptr<Linear> pooler, classifier;

 private:
  Pooling pooling_;
  double dropout_;
};

class TokenHead : public nn::Layer, public Initializable {
 public:
  /// hidden: a dense [d_model, d_model] + activation before the classifier (ELECTRA's
  /// discriminator head).
  TokenHead(int64_t d_model, int64_t n_classes, bool hidden, Activation activation, double dropout);
  /// h [B, T, d_model] (or [..., d_model]) -> [..., n_classes].
  Tensor forward(const Tensor& h, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;

  std::shared_ptr<Linear> dense, classifier;

 private:
  Activation act_;
  double dropout_;
};

}  // namespace kiln::layers
