// Training a byte-level BPE vocabulary on a corpus, as GPT-2's was: the text is cut into
// pieces by GPT-2's pre-tokenisation (in parallel), the distinct pieces are counted, and the
// most frequent adjacent pair of tokens is merged into a new token until the vocabulary is
// full. Merges never cross a piece boundary or a special token.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/tokenizers/byte_pair.h"
#include "plugins/tokenizers/special_tokens.h"

namespace kiln::tokenizers {

struct BpeTrainResult {
  std::vector<std::string> tokens;  ///< bytes of each id: the 256 bytes in byte order, then merges
  std::vector<BytePairEncoder::Merge> merges;  ///< in rank order
};

/// Learns merges until there are `max_tokens` tokens (the 256 bytes included) or no pair is
/// left that occurs at least `min_frequency` times. Deterministic: the pair with the highest
/// count wins, and among equal counts the one whose (left bytes, right bytes) is smallest in
/// byte-wise lexicographic order; the result depends neither on the thread count nor on the
/// order of the corpus's documents. Text matching a special token is left out. A merge whose
/// bytes are already a token (made by another pair) adds a merge but no token.
///
/// Pair counts are kept up to date incrementally (each merge touches only the pieces that hold
/// the pair, found through an index from pair to pieces), and the best pair comes from a
/// priority queue with lazy deletion, so a merge costs time in proportion to what it changes.
BpeTrainResult train_bpe(const std::vector<std::string_view>& corpus, int64_t max_tokens,
                         int64_t min_frequency, const SpecialTokens& specials);

}  // namespace kiln::tokenizers
