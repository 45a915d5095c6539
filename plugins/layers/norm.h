// Normalisation layers: LayerNorm (Ba et al. 2016; optional bias) and RMSNorm (Zhang & Sennrich
// 2019), on the fused ops. Their output passes through the hook point `hook_normalized`
// (TransformerLens: blocks.3.ln1.hook_normalized, after the weight and bias).
#pragma once

#include "core/nn/layer.h"
#include "plugins/layers/common.h"

namespace kiln::layers {

class LayerNorm : public nn::Layer, public Initializable {
 public:
  /// Parameters: weight [d] (ones) and, with bias, bias [d] (zeros).
  LayerNorm(int64_t d_model, bool bias, double eps);
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;

  nn::Parameter weight, bias;

 private:
  double eps_;
  nn::HookPoint& hook_normalized_;
};

class RMSNorm : public nn::Layer, public Initializable {
 public:
  /// Parameter: weight [d] (ones).
  RMSNorm(int64_t d_model, double eps);
  Tensor forward(const Tensor& x, nn::ForwardState& state) override;
  void init_weights(const InitOptions& o) override;

  nn::Parameter weight;

 private:
  double eps_;
  nn::HookPoint& hook_normalized_;
};

}  // namespace kiln::layers
