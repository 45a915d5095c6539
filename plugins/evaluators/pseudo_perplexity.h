// Pseudo-log-likelihood of masked LMs (Salazar et al. 2020, "Masked Language Model Scoring";
// Wang and Cho 2019): each token is masked in turn and scored by the model's prediction at its
// position given every other token of its window,
//
//   PLL(document) = sum_t log p(w_t | w_1 .. w_{t-1} [MASK] w_{t+1} .. w_n)
//
// and pseudo-perplexity = exp(-PLL / tokens). Documents longer than a window are cut into
// disjoint windows of `context` tokens, each token scored with the context of its own window
// only. One forward per token: n copies of a window, each with one position masked, batched.
// An EncoderModel goes through encode() and its MLM head at the masked position only.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "core/nn/model.h"

namespace kiln::evaluators {

struct PseudoLoglikelihood {
  double logprob = 0;  ///< sum over every token of every document (natural log)
  int64_t tokens = 0, windows = 0;
};

/// `progress(done, total)` is called with forwards (rows) done, when given.
PseudoLoglikelihood pseudo_loglikelihood(
    nn::Model& model, const std::vector<std::vector<int32_t>>& documents, int32_t mask_id,
    int64_t context, int64_t batch_size,
    const std::function<void(int64_t, int64_t)>& progress = {});

}  // namespace kiln::evaluators
