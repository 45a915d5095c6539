// The logit lens (nostalgebraist 2020): the residual stream after each block read through the
// model's own final norm and unembedding, as if the network stopped there. Computed through hook
// points alone: the stream of layer l replaces the last block's hook_resid_post, so the final
// norm and head that follow are exactly the model's (the last row is the model's logits, bit
// for bit).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/nn/model.h"

namespace kiln::probes {

struct LogitLens {
  /// Row names: "embed" (blocks.0.hook_resid_pre), then "0" .. "L-1" (blocks.{l}.hook_resid_post).
  std::vector<std::string> rows;
  /// Logits [rows, T, V] (f64) of batch row 0.
  Tensor logits;
};

/// Lens logits of tokens [1, T].
LogitLens logit_lens(nn::Model& model, const Tensor& tokens);

struct LensTop {
  std::vector<int64_t> ids;  ///< top-k token ids, most probable first
  std::vector<double> probs;
};
/// Per row and position: the k most probable tokens (ties: the lower id first).
std::vector<std::vector<LensTop>> lens_top_k(const LogitLens& lens, int64_t k);
/// Per row and position: probability and rank (0 = most probable; ties counted below) of `target`.
void lens_target(const LogitLens& lens, int64_t target, std::vector<double>& prob,
                 std::vector<int64_t>& rank);

/// Attention patterns [L, H, T, T] (f64) of tokens [1, T]: blocks.{l}.attn.hook_pattern.
Tensor attention_patterns(nn::Model& model, const Tensor& tokens);

}  // namespace kiln::probes
