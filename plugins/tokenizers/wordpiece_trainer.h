// Training a WordPiece vocabulary on a corpus, as Hugging Face's WordPieceTrainer does (the
// vocabulary BERT-style models trained from scratch use): the text is cut into words by BERT's
// basic tokenisation, the distinct words are counted, each word is spelled as its first
// character followed by its other characters with the continuation prefix ("c", "##a", "##t"),
// and the most frequent adjacent pair is merged (BPE counts, merge_trainer.h) until the
// vocabulary is full. A merged piece is the left one with the right one's text appended
// ("c" + "##at" = "cat", "##a" + "##t" = "##at").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "plugins/tokenizers/bert_text.h"
#include "plugins/tokenizers/special_tokens.h"

namespace kiln::tokenizers {

struct WordPieceTrainOptions {
  int64_t max_tokens = 8192;  ///< ordinary pieces to learn (the alphabet included)
  int64_t min_frequency = 2;  ///< stop when no pair occurs this often
  std::string prefix = "##";
  int64_t max_word_chars = 100;  ///< longer words are [UNK] when encoding: they are not counted
  BertTextOptions text;
};

/// The learned pieces in id order: the alphabet (characters that begin a word, in code-point
/// order, then the continuation characters, likewise), then the merges in the order they were
/// made. Deterministic (merge_trainer.h); text matching a special token is left out. Throws
/// when the alphabet alone exceeds max_tokens, naming both sizes.
std::vector<std::string> train_wordpiece(const std::vector<std::string_view>& corpus,
                                         const WordPieceTrainOptions& options,
                                         const SpecialTokens& specials);

}  // namespace kiln::tokenizers
