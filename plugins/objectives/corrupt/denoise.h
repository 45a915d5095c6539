// BART's noising functions (Lewis et al. 2020; fairseq's DenoisingDataset):
//
//   text infilling      ceil(ratio * words) words are masked, in spans whose lengths (in
//                       words) are drawn from Poisson(lambda) until they add up to that budget
//                       (the last one cut to fit). Each span becomes one mask token (or, with
//                       probability random_ratio, one random token); a span of length 0 inserts
//                       a mask token at a random place. The spans are laid out at random without
//                       overlapping or touching (fairseq lets them overlap, which masks less
//                       than the budget), so exactly the budget is masked and each mask stands
//                       for one drawn span. Special tokens are not words: they stay, and split
//                       a span that crosses them (each part then has its own mask).
//   sentence permutation  the sentences (runs ending at a sentence-end token) of
//                       ceil(sentences * ratio) randomly chosen places are shuffled among
//                       themselves; ratio 1 shuffles them all.
//   token deletion      each candidate token is removed with probability `ratio`.
//
// With every token a word start, the infilling's words are tokens.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plugins/objectives/corrupt/mlm.h"
#include "plugins/objectives/corrupt/rng.h"

namespace kiln::objectives {

struct InfillOptions {
  double ratio = 0.3;         ///< fraction of words masked
  double lambda = 3.0;        ///< mean span length, in words
  double random_ratio = 0.0;  ///< a span's token is a random one instead of the mask
};

struct InfillResult {
  std::vector<int32_t> tokens;
  /// The span lengths drawn, in words, in order (the last cut to fit the budget); 0 is an
  /// insertion.
  std::vector<int64_t> lengths;
  int64_t budget = 0;  ///< words to mask: ceil(ratio * word starts)
  int64_t masked = 0;  ///< tokens the spans covered (replaced by their masks or removed)
};

/// candidate[i] == 0 (special tokens): never masked, and a span stops before it.
InfillResult text_infill(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                         std::span<const uint8_t> word_start, const InfillOptions& options,
                         const MlmVocab& vocab, Rng& rng);

/// Sentences end after each token with sentence_end[i] != 0 (a run of them ends one sentence);
/// a final unterminated stretch is a sentence too.
std::vector<int32_t> permute_sentences(std::span<const int32_t> ids,
                                       std::span<const uint8_t> sentence_end, double ratio,
                                       Rng& rng);

std::vector<int32_t> delete_tokens(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                                   double ratio, Rng& rng);

}  // namespace kiln::objectives
