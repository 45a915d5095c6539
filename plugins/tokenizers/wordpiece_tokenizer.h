// The wordpiece tokenizer: BERT's. Text is cut into words by BERT's basic tokenisation
// (bert_text.h: cleaning, CJK, lowercasing and accent stripping, punctuation), and each word
// into the longest pieces of the vocabulary from its start, greedily: the first piece as it is
// written ("play"), the others with the continuation prefix ("##ing"). A word that cannot be
// spelled with the vocabulary, or that is longer than max_word_chars characters, is [UNK].
//
// The vocabulary is BERT's vocab.txt (one piece a line, the id is the line number; special
// tokens that are in it keep their ids, the others are numbered after it), or is learned from
// the training text (wordpiece_trainer.h; special tokens first, then the pieces). Saved with a
// run as vocab.txt and tokenizer.json.
//
// Decoding is Hugging Face's convert_tokens_to_string: the pieces joined with spaces, " ##"
// removed ("un ##aff ##able" -> "unaffable"), without its clean-up of spaces before
// punctuation. WordPiece is lossy (case, accents and spacing are lost), so decode(encode(t))
// is t only for normalised text.
#pragma once

#include <memory>

#include "plugins/tokenizers/bert_text.h"
#include "plugins/tokenizers/flat_table.h"
#include "plugins/tokenizers/tokenizer_base.h"

namespace kiln::tokenizers {

struct WordPieceOptions {
  BertTextOptions text;
  std::string unk = "[UNK]";
  std::string prefix = "##";
  int64_t max_word_chars = 100;
};

/// BERT's special tokens, in the order BERT's vocabularies hold them.
inline const std::vector<std::string>& bert_special_tokens() {
  static const std::vector<std::string> k = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  return k;
}

class WordPieceTokenizer final : public TokenizerBase {
 public:
  /// A vocabulary given in id order (vocab.txt's lines).
  WordPieceTokenizer(std::vector<std::string> vocab, WordPieceOptions options,
                     std::vector<std::string> special_tokens = bert_special_tokens(),
                     std::optional<std::string> eos = std::nullopt);
  /// Learns its vocabulary of `vocab_size` tokens (special tokens included) in fit().
  static std::shared_ptr<WordPieceTokenizer> trainable(int64_t vocab_size, int64_t min_frequency,
                                                       WordPieceOptions options,
                                                       std::vector<std::string> special_tokens,
                                                       std::optional<std::string> eos);
  /// Reads a BERT vocab.txt.
  static std::shared_ptr<WordPieceTokenizer> from_vocab_file(
      const std::string& path, WordPieceOptions options, std::vector<std::string> special_tokens,
      std::optional<std::string> eos);

  int64_t vocab_size() const override;
  std::string decode(const std::vector<int32_t>& ids) const override;
  bool needs_fit() const override { return !ready_; }
  void fit(const std::vector<std::string_view>& corpus) override;
  void save(const std::string& dir) const override;
  void load(const std::string& dir) override;

  /// The pieces of one word of the basic tokenisation (as ids; {unk} when it cannot be spelled).
  void encode_word(std::string_view word, std::vector<int32_t>& out) const;
  /// The vocabulary in id order (special tokens at their ids).
  const std::vector<std::string>& vocab() const { return vocab_; }
  const WordPieceOptions& options() const { return options_; }
  int32_t unk_id() const { return unk_id_; }

 protected:
  void encode_ordinary(std::string_view text, std::vector<int32_t>& out) const override;
  /// A piece's text with a space before it when it begins a word ("##ing" -> "ing",
  /// "play" -> " play"), so that words stay apart in streamed output.
  void append_ordinary(int32_t id, std::string& out) const override;
  void ensure_ready() const override;

 private:
  WordPieceTokenizer(WordPieceOptions options, std::vector<std::string> special_tokens,
                     std::optional<std::string> eos, int64_t train_size, int64_t min_frequency);
  void set_vocabulary(std::vector<std::string> vocab);

  WordPieceOptions options_;
  bool ready_ = false;
  int64_t train_size_ = 0, min_frequency_ = 2;  // for fit()
  std::vector<std::string> vocab_;              // by id
  std::vector<std::string> stripped_;           // by id: a continuation piece without its prefix
  std::vector<char> continuation_;              // by id
  TokenTable initial_, continued_;  // word-initial pieces by text; continuations by stripped
  int32_t unk_id_ = -1;
};

}  // namespace kiln::tokenizers
