// A scalar head on a model, for reward models (TRL's AutoModelForSequenceClassification with
// num_labels = 1: a bias-free linear map "score" of the final hidden states). The head reads
// the activation at a hook point of the wrapped model (default ln_final.hook_normalized, the
// decoder's final-normed residual) and gives one output a position, [B, T, 1]; the
// reward_model objective reads it at the last response token. Parameters: the wrapped model's
// under "model.", the head's "score.weight" [1, d_model].
#pragma once

#include <memory>
#include <string>

#include "core/nn/model.h"

namespace kiln::objectives {

class ScalarHead : public nn::Model {
 public:
  /// d_model is found with one forward of a single token through `model`, reading the hook.
  ScalarHead(std::shared_ptr<nn::Model> model, std::string hook, double init_std = 0.02);
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  /// The vocabulary of the tokens it reads (the wrapped model's; the trainer checks the
  /// tokenizer against it), though forward() gives one output a position.
  int64_t vocab_size() const override { return model_->vocab_size(); }
  int64_t context_length() const override { return model_->context_length(); }
  double train_flops_per_token(int64_t seq_len) const override {
    return model_->train_flops_per_token(seq_len);
  }
  nn::Model& inner() { return *model_; }

 private:
  Tensor hidden(const Tensor& tokens, nn::ForwardState& state);
  std::shared_ptr<nn::Model> model_;
  std::string hook_;
  nn::Parameter weight_;
};

}  // namespace kiln::objectives
