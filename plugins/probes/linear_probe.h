// Linear probes (Alain & Bengio 2016; Hewitt & Liang 2019): cache the activations of one hook
// point in every layer over a labelled set, fit a softmax regression with weight decay on part
// of the examples and report held-out accuracy per layer, beside two references:
//   majority: the held-out accuracy of always answering the most frequent training label;
//   control:  the same probe fitted and scored on labels shuffled across tokens, so the
//             features carry no information about them; a probe that learns the control
//             memorises instead of reading out, and selectivity = accuracy - control.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/nn/model.h"

namespace kiln::probes {

/// One example: token ids and either one label per token (-1: not scored) or one label for the
/// whole sequence (read at its last token).
struct ProbeExample {
  std::vector<int64_t> ids;
  std::vector<int64_t> labels;
};

struct LinearProbeOptions {
  std::string hook = "hook_resid_post";  ///< blocks.{l}.<hook> for every layer l
  bool include_embed = true;             ///< also blocks.0.hook_resid_pre (row "embed")
  double test_fraction = 0.25;           ///< held-out share of the examples
  double weight_decay = 1e-3;            ///< L2 penalty on the weights (not the bias)
  int64_t steps = 300;                   ///< full-batch Adam steps
  double lr = 0.05;
  uint64_t seed = 0;  ///< the split and the control's shuffle
};

struct LinearProbeLayer {
  std::string name;  ///< "embed" or the layer number
  std::string hook;  ///< the full hook point name
  double train_accuracy = 0, accuracy = 0, control_accuracy = 0;
};

struct LinearProbeResult {
  int64_t classes = 0, train_tokens = 0, test_tokens = 0;
  double majority = 0;  ///< held-out accuracy of the majority training label
  std::vector<LinearProbeLayer> layers;
};

LinearProbeResult linear_probe(nn::Model& model, const std::vector<ProbeExample>& examples,
                               const LinearProbeOptions& options = {});

/// Softmax regression on row-major features x [N, d] and labels y in [0, K): the weights
/// [K, d] then biases [K], fitted on standardised features (means and scales returned too).
struct SoftmaxRegression {
  int64_t d = 0, K = 0;
  std::vector<double> w, b, mean, scale;
  int64_t predict(const double* x) const;
};
SoftmaxRegression fit_softmax_regression(const std::vector<double>& x,
                                         const std::vector<int64_t>& y, int64_t d, int64_t K,
                                         const LinearProbeOptions& options);

}  // namespace kiln::probes
