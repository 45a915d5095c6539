// Activation patching (Meng et al. 2022; Wang et al. 2023, "denoising"): run the corrupted
// prompts with one activation taken from the clean run, and measure how much of the clean
// behaviour returns. The metric is the normalised logit difference between two answer tokens
// at the last position, averaged over the prompt pairs:
//   LD(run)  = mean over pairs of logit[answer] - logit[wrong answer]
//   metric   = (LD(patched) - LD(corrupted)) / (LD(clean) - LD(corrupted))
// so 1 means the patch restores the clean behaviour and 0 that it changes nothing.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/nn/model.h"

namespace kiln::probes {

struct PatchingInput {
  Tensor clean, corrupted;             ///< i64 [B, T], the same shape
  std::vector<int64_t> answer, wrong;  ///< per pair: the clean prompt's answer, the other token
};

struct PatchingResult {
  double clean_ld = 0, corrupted_ld = 0;
  int64_t layers = 0, positions = 0, heads = 0;
  /// [layers x positions] metric when one block's activation at one position (all pairs) is
  /// patched: resid (blocks.{l}.hook_resid_pre), attn_out, mlp_out (empty without MLPs).
  std::vector<double> resid, attn_out, mlp_out;
  /// [layers x heads] metric when one head's hook_z (all positions) is patched.
  std::vector<double> z;
};

/// Mean logit difference of answer over wrong at the last position of logits [B, T, V].
double logit_difference(const Tensor& logits, const std::vector<int64_t>& answer,
                        const std::vector<int64_t>& wrong);

/// Every patch above, one forward each. Throws if the prompts' shapes differ, the answers do not
/// match the pairs, or clean and corrupted have the same logit difference.
PatchingResult activation_patching(nn::Model& model, const PatchingInput& in);

}  // namespace kiln::probes
