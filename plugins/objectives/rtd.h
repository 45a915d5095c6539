// Replaced-token detection (ELECTRA, Clark et al. 2020). The inputs are masked (masking.h;
// ELECTRA's 15%, of which 85% [MASK] and 15% left as they are); the generator (an MLM) predicts
// the masked tokens; a token is sampled from its distribution at each masked position (no
// gradient flows through the sampling) and put in place of the original; the discriminator
// then classifies every token as original (0) or replaced (1), a sampled token equal to the
// original counting as original:
//
//   loss = mlm loss (generator) + lambda * mean binary cross-entropy (discriminator)
//
// with lambda = 50 (ELECTRA's). Reported: mlm_loss, rtd_loss, mlm_accuracy, rtd_accuracy (the
// discriminator's, over every scored token), rtd_original (the fraction of original tokens:
// the accuracy of always answering "original", which rtd_accuracy should beat) and rtd_recall
// (the fraction of replaced tokens the discriminator calls replaced).
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {

class ReplacedTokenDetection : public train::Objective {
 public:
  ReplacedTokenDetection(MlmOptions mlm, bool fixed, double lambda, double temperature)
      : masker_(mlm, fixed), lambda_(lambda), temperature_(temperature) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // MLM plus 50 x the discriminator's loss

 private:
  Masker masker_;
  double lambda_, temperature_;
  std::optional<int32_t> pad_;
};

/// Mean binary cross-entropy with logits over the positions where `weight` is 1:
/// softplus(x) - y x, computed in f32 (or f64 for f64 logits).
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const Tensor& weight);

/// One draw from softmax(logits / temperature) per row of logits [N, C].
std::vector<int32_t> sample_rows(const Tensor& logits, double temperature, Rng& rng);

}  // namespace kiln::objectives
