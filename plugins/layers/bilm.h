// An ELMo-style bidirectional language model (Peters et al. 2018): a token embedding, a forward
// stack of layers reading left to right and a backward stack reading right to left (the
// same kind of causal layer, run on the reversed sequence: LSTMs as ELMo, or transformer blocks
// with causal attention), and one softmax shared by both directions (tied to the token
// embedding, or an own matrix). With residual, each LSTM layer after the first adds its input
// to its output (ELMo's residual connection between its two layers).
//
// ELMo's token encoder is a character CNN; here tokens are looked up in a table (the word
// embedding), so an ELMo-sized model here has its biLSTMs and softmax but no char CNN.
//
// Parameter names: wte.weight [vocab, d_model], forward_layers.{i}.*, backward_layers.{i}.*
// (lstm.h), lm_head.weight [vocab, d_model] (untied only).
#pragma once

#include <memory>
#include <vector>

#include "core/nn/model.h"
#include "plugins/layers/common.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

struct BiLMConfig {
  int64_t vocab = 0;
  int64_t d_model = 0;
  int64_t context = 1024;
  bool tie_embeddings = true;
  bool residual = true;  ///< residual connections around LSTM layers after the first
  double dropout = 0.0;  ///< on the embeddings and on each layer's output
  InitOptions init;
};

class BiLM : public nn::BiLMModel {
 public:
  /// forward_layers and backward_layers: causal layers [B, T, d_model] -> [B, T, d_model], as
  /// many of each.
  BiLM(const BiLMConfig& config, std::vector<std::shared_ptr<nn::Layer>> forward_layers,
       std::vector<std::shared_ptr<nn::Layer>> backward_layers);

  Logits bidirectional_logits(const Tensor& tokens, nn::ForwardState& state) override;
  /// The forward LM's logits [B, T, V].
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  Tensor encode(const Tensor& tokens, nn::ForwardState& state) override;
  int64_t vocab_size() const override { return c_.vocab; }
  int64_t context_length() const override { return c_.context; }
  double train_flops_per_token(int64_t seq_len) const override;
  const BiLMConfig& config() const { return c_; }

  std::shared_ptr<TokenEmbedding> wte;
  std::shared_ptr<nn::ModuleList> forward_layers, backward_layers;
  std::shared_ptr<Linear> lm_head;  // untied only

 private:
  struct States {
    Tensor forward, backward;  // top layer, [B, T, d_model]
  };
  States states(const Tensor& tokens, nn::ForwardState& state, bool backward);
  Tensor run(nn::ModuleList& layers, Tensor x, nn::ForwardState& state);
  Tensor logits(const Tensor& h, nn::ForwardState& state);

  BiLMConfig c_;
};

}  // namespace kiln::layers
