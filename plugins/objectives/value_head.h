// A value head on a policy, for ppo (TRL's AutoModelForCausalLMWithValueHead: a linear map
// with bias of the final hidden states to one value a position, sharing the policy's trunk).
// forward() returns the wrapped model's logits unchanged, so generation, the reference and
// every other objective see the policy; the head reads the activation at a hook point
// (default ln_final.hook_normalized) on the way, and values() gives the values [B, T] of the
// last forward. Parameters: the wrapped model's under "model.", the head's "value.weight"
// [1, d_model] and "value.bias" [1]; the trainer optimises and checkpoints them with the
// policy.
//
// With a value model (TRL's current PPOTrainer: a critic apart from the policy) the head reads
// the hook point of that model instead, run on the same tokens in every forward but those of
// cached generation (whose cache is the policy's and whose values nobody reads); the value loss
// then does not reach the policy's weights. Its parameters are under "value_model.".
#pragma once

#include <memory>
#include <string>

#include "core/nn/model.h"

namespace kiln::objectives {

class ValueHead : public nn::Model {
 public:
  /// d_model is found with one forward of a single token, reading the hook. value_model:
  /// optional, the trunk the head reads instead of the policy's.
  ValueHead(std::shared_ptr<nn::Model> model, std::string hook, double init_std = 0.02,
            std::shared_ptr<nn::Model> value_model = nullptr);
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  /// The values [B, T] of the last forward's positions (differentiable when it was).
  Tensor values() const;
  /// Drops the last forward's activation (and the graph it holds on to).
  void release() { hidden_ = Tensor(); }
  int64_t vocab_size() const override { return model_->vocab_size(); }
  int64_t context_length() const override { return model_->context_length(); }
  nn::KVCache make_cache(int64_t batch, int64_t capacity) const override {
    return model_->make_cache(batch, capacity);
  }
  double train_flops_per_token(int64_t seq_len) const override {
    return model_->train_flops_per_token(seq_len) +
           (value_model_ ? value_model_->train_flops_per_token(seq_len) : 0.0);
  }
  nn::Model& inner() { return *model_; }

 private:
  std::shared_ptr<nn::Model> model_, value_model_;
  std::string hook_;
  nn::Parameter weight_, bias_;
  Tensor hidden_;  // the hook's activation in the last forward
};

}  // namespace kiln::objectives
