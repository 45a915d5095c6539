// Sentence pairs for BERT's next-sentence prediction (NSP) and ALBERT's sentence-order
// prediction (SOP), cut from rows of running text:
//
//   [CLS] A [SEP] B [SEP]    token types 0 for [CLS] A [SEP], 1 for B [SEP]
//
// A and B are consecutive stretches of a row, A of a uniformly random length in [1, n - 1]
// and B the rest, n = length - 3 tokens in all (a row holds running text, so consecutive
// stretches are the "actual next sentence" of BERT's data). Labels, each with probability 1/2:
//   nsp  0: B follows A;           1: B is a stretch of another row at a random offset
//   sop  0: A then B (in order);   1: B then A (swapped)
// which are the label conventions of Hugging Face's next_sentence_label and
// sentence_order_label.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "plugins/objectives/corrupt/rng.h"

namespace kiln::objectives {

enum class PairTask { nsp, sop };

struct SentencePair {
  std::vector<int32_t> tokens;  ///< [CLS] A [SEP] B [SEP], `length` tokens
  std::vector<int64_t> types;   ///< 0 / 1 per token
  int64_t label = 0;
  int64_t first_len = 0, second_len = 0;  ///< of the two segments, as laid out
};

/// `row` must hold at least length - 3 tokens, `other` (nsp's random second segments) at
/// least length - 4; length >= 5.
SentencePair make_sentence_pair(std::span<const int32_t> row, std::span<const int32_t> other,
                                PairTask task, int32_t cls, int32_t sep, int64_t length, Rng& rng);

}  // namespace kiln::objectives
