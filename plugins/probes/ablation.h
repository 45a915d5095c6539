// Ablation: knock out one attention head (its hook_z) or one MLP (its hook_mlp_out) and measure
// the change in the next-token loss. Zero ablation sets the activation to 0; mean ablation to
// its mean over the batch and positions of the same tokens (TransformerLens's mean ablation
// over a reference set), which keeps the component's average contribution and removes only
// what depends on the input.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/nn/model.h"

namespace kiln::probes {

struct AblationOptions {
  bool mean = false;      ///< mean ablation; else zero
  int64_t loss_from = 0;  ///< score the predictions of positions [loss_from, loss_to)
  int64_t loss_to = -1;   ///< < 0: to the end
};

struct AblationResult {
  double base_loss = 0;
  int64_t layers = 0, heads = 0;
  std::vector<double> head_loss;  ///< [layers x heads]: loss with that head ablated
  std::vector<double> mlp_loss;   ///< [layers]: loss with that MLP ablated (empty without MLPs)
};

/// Every head and MLP of the model ablated in turn, on tokens [B, T].
AblationResult ablation(nn::Model& model, const Tensor& tokens,
                        const AblationOptions& options = {});
/// The loss with the heads `heads` ((layer, head) pairs) ablated together.
double ablated_loss(nn::Model& model, const Tensor& tokens,
                    const std::vector<std::pair<int64_t, int64_t>>& heads,
                    const AblationOptions& options = {});

}  // namespace kiln::probes
