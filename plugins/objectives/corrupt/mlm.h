// Masked-LM corruption (BERT, Devlin et al. 2019): each candidate token is selected with
// probability `rate`; a selected token becomes the mask token with probability `mask`, a
// random ordinary token with probability `random`, and stays as it is otherwise (80/10/10 by
// default). Selected tokens are the targets; the others are not scored (-100).
//
// Whole-word masking selects words instead of tokens (each word with probability `rate`, all
// of its tokens then targets, each with its own 80/10/10 draw), so the expected fraction of
// tokens selected is still `rate`.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plugins/objectives/corrupt/rng.h"

namespace kiln::objectives {

struct MlmOptions {
  double rate = 0.15;   ///< probability that a candidate token (or word) is selected
  double mask = 0.8;    ///< of the selected: replaced by the mask token
  double random = 0.1;  ///< of the selected: replaced by a random ordinary token
  bool whole_word = false;
};

/// What the corruption needs of the vocabulary.
struct MlmVocab {
  int32_t mask_id = 0;
  int64_t size = 0;  ///< ids [0, size)
  /// special[id] != 0: never drawn as a random replacement (may be empty: every id is drawn).
  std::span<const uint8_t> special;
};

enum class MlmAction : uint8_t { none, mask, random, keep };

struct MlmResult {
  std::vector<int32_t> inputs;  ///< the corrupted sequence
  std::vector<int64_t> labels;  ///< the original token where selected, -100 elsewhere
  std::vector<MlmAction> actions;
};

/// Corrupts one sequence. candidate[i] == 0: token i is never selected (special tokens);
/// word_start[i] != 0: token i begins a word (read only with whole_word; a word is a run from
/// one start to the next). Both have the size of ids.
MlmResult mask_tokens(std::span<const int32_t> ids, std::span<const uint8_t> candidate,
                      std::span<const uint8_t> word_start, const MlmOptions& options,
                      const MlmVocab& vocab, Rng& rng);

/// A random ordinary id (uniform over the ids that are not special).
int32_t random_ordinary(const MlmVocab& vocab, Rng& rng);

}  // namespace kiln::objectives
