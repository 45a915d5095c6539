// BERT's BasicTokenizer (google-research/bert tokenization.py, as Hugging Face's BertTokenizer
// runs it): the words that WordPiece then splits into pieces.
//
//   1. clean: drop U+0000, U+FFFD, invalid UTF-8 and control characters (category C* except
//      tab, newline and carriage return); whitespace (Zs, tab, newline, CR) becomes a space
//   2. CJK ideographs (the CJK Unified Ideographs blocks BERT lists) become words of their own
//   3. split at whitespace; then, per word: lowercase (Python's str.lower(), final sigma
//      included) when asked; strip accents (NFD, then drop the nonspacing marks, Mn) when asked
//      (by default whenever lowercasing); split off each punctuation character (P*, and the
//      ASCII symbols BERT counts) as a word of its own
//
// The Unicode data comes from tools/gen_bert_tables.py (bert_tables.inc).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::tokenizers {

struct BertTextOptions {
  bool lowercase = true;
  bool strip_accents = true;  ///< BERT: the same as lowercase unless set apart
  bool split_cjk = true;      ///< tokenize_chinese_chars
};

/// The words of text, in order, each as UTF-8.
std::vector<std::string> bert_basic_tokenize(std::string_view text, const BertTextOptions& options);

/// The character classes of BasicTokenizer (exposed for tests).
bool bert_is_punctuation(char32_t c);
bool bert_is_control(char32_t c);
bool bert_is_whitespace(char32_t c);
bool bert_is_cjk(char32_t c);
/// Python's str.lower() of one word (code points), with the final-sigma rule.
std::u32string bert_lower(const std::u32string& word);
/// NFD with the nonspacing marks dropped.
std::u32string bert_strip_accents(const std::u32string& word);
/// The Unicode version of the tables.
const char* bert_unicode_version();

}  // namespace kiln::tokenizers
