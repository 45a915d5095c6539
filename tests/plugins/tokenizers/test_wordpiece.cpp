// The wordpiece tokenizer: BERT's basic tokenisation, greedy longest-match pieces, vocab.txt,
// training, saving, and the component. Expected tokenisations are worked by hand from the
// rules (several are the cases of Hugging Face's test_tokenization_bert.py).
#include <gtest/gtest.h>

#include <fstream>

#include "core/base/error.h"
#include "core/registry/plugin.h"
#include "plugins/tokenizers/bert_text.h"
#include "plugins/tokenizers/wordpiece_tokenizer.h"
#include "plugins/tokenizers/wordpiece_trainer.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using Words = std::vector<std::string>;
using Ids = std::vector<int32_t>;

Words basic(std::string_view text, bool lower = true, std::optional<bool> strip = std::nullopt) {
  BertTextOptions o;
  o.lowercase = lower;
  o.strip_accents = strip.value_or(lower);
  return bert_basic_tokenize(text, o);
}

TEST(BertBasic, SplitsCjkIdeographs) {
  EXPECT_EQ(basic("ah\u535A\u63A8zz"), (Words{"ah", "\u535A", "\u63A8", "zz"}));
  // Hiragana and Hangul are not CJK ideographs: they stay in their words.
  EXPECT_EQ(basic("\u3053\u3093 \uD55C\uAD6D", false, false),
            (Words{"\u3053\u3093", "\uD55C\uAD6D"}));
}

TEST(BertBasic, LowercasesAndStripsAccents) {
  EXPECT_EQ(basic(" \tHeLLo!how  \n Are yoU?  "), (Words{"hello", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(basic("H\u00E9llo"), (Words{"hello"}));
  EXPECT_EQ(basic(" \tH\u00E4LLo!how  \n Are yoU?  ", true, false),
            (Words{"h\u00E4llo", "!", "how", "are", "you", "?"}));
  EXPECT_EQ(basic("H\u00E9llo", true, false), (Words{"h\u00E9llo"}));
  EXPECT_EQ(basic(" \tH\u00E4LLo!how  \n Are yoU?  ", false, true),
            (Words{"HaLLo", "!", "how", "Are", "yoU", "?"}));
  EXPECT_EQ(basic(" \tHeLLo!how  \n Are yoU?  ", false, false),
            (Words{"HeLLo", "!", "how", "Are", "yoU", "?"}));
  // A decomposed accent (e + U+0301) is stripped like the precomposed one.
  EXPECT_EQ(basic("Cafe\u0301 CAF\u00C9"), (Words{"cafe", "cafe"}));
  // Hangul syllables decompose into their jamo under NFD: U+D55C = U+1112 U+1161 U+11AB.
  EXPECT_EQ(basic("\uD55C"), (Words{"\u1112\u1161\u11AB"}));
  // U+0130 lowercases to i + U+0307 (a nonspacing mark, then stripped).
  EXPECT_EQ(basic("\u0130", true, false), (Words{"i\u0307"}));
  EXPECT_EQ(basic("\u0130"), (Words{"i"}));
}

TEST(BertBasic, FinalSigma) {
  // Python's str.lower(): a capital sigma that ends a word becomes the final form U+03C2.
  EXPECT_EQ(basic("\u039F\u0394\u039F\u03A3"), (Words{"\u03BF\u03B4\u03BF\u03C2"}));
  EXPECT_EQ(basic("\u03A3\u039F"), (Words{"\u03C3\u03BF"}));
  EXPECT_EQ(basic("\u039F\u03A3\u039F"), (Words{"\u03BF\u03C3\u03BF"}));
  // Punctuation is split after lowercasing: the sigma before "." is still final.
  EXPECT_EQ(basic("\u039F\u03A3."), (Words{"\u03BF\u03C2", "."}));
}

TEST(BertBasic, PunctuationControlAndWhitespace) {
  // ASCII symbols that Unicode calls symbols (S*) are punctuation to BERT.
  EXPECT_EQ(basic("a$b+c<d=e>f^g`h|i~j"), (Words{"a", "$", "b", "+", "c", "<", "d", "=", "e", ">",
                                                 "f", "^", "g", "`", "h", "|", "i", "~", "j"}));
  // Unicode punctuation (P*): the em dash and the guillemets.
  EXPECT_EQ(basic("x\u2014y \u00ABz\u00BB"), (Words{"x", "\u2014", "y", "\u00AB", "z", "\u00BB"}));
  // Controls (C*: NUL, U+0007, the zero-width space U+200B is Cf) and U+FFFD are dropped;
  // the no-break space (Zs) separates words; invalid UTF-8 is dropped.
  EXPECT_EQ(basic(std::string("a\0b\u0007c\u200Bd\uFFFDe", 16) + "\u00A0f\xFFg"),
            (Words{"abcde", "fg"}));
  EXPECT_TRUE(basic("").empty());
  EXPECT_TRUE(basic(" \t\n ").empty());
  EXPECT_TRUE(bert_is_punctuation(U'-'));
  EXPECT_FALSE(bert_is_punctuation(U'a'));
  EXPECT_TRUE(bert_is_whitespace(U'\u3000'));
  EXPECT_FALSE(bert_is_control(U'\t'));
  EXPECT_TRUE(bert_is_control(U'\u200B'));
}

// Hugging Face's test vocabulary.
Words hf_vocab() {
  return {"[UNK]", "[CLS]", "[SEP]", "want", "##want", "##ed",  "wa",
          "un",    "runn",  "##ing", ",",    "low",    "lowest"};
}

WordPieceTokenizer hf_tokenizer() {
  return WordPieceTokenizer(hf_vocab(), WordPieceOptions{}, {"[UNK]", "[CLS]", "[SEP]"});
}

TEST(WordPiece, GreedyLongestMatchFirst) {
  WordPieceTokenizer t = hf_tokenizer();
  EXPECT_EQ(t.encode(""), Ids{});
  // un ##want ##ed runn ##ing
  EXPECT_EQ(t.encode("unwanted running"), (Ids{7, 4, 5, 8, 9}));
  // A word that cannot be spelled to its end is one [UNK], whatever pieces it began with.
  EXPECT_EQ(t.encode("unwantedX running"), (Ids{0, 8, 9}));
  // Lowercased, accent stripped, comma split off: un ##want ##ed , runn ##ing
  EXPECT_EQ(t.encode("UNwant\u00E9d,running"), (Ids{7, 4, 5, 10, 8, 9}));
  // "lowest" is in the vocabulary whole: the longest match wins over "low" + ...
  EXPECT_EQ(t.encode("lowest low"), (Ids{12, 11}));
  EXPECT_EQ(t.unk_id(), 0);
  EXPECT_EQ(t.vocab_size(), 13);
}

TEST(WordPiece, SpecialTokensAndDecoding) {
  WordPieceTokenizer t = hf_tokenizer();
  EXPECT_EQ(t.encode("[CLS] unwanted [SEP]", true), (Ids{1, 7, 4, 5, 2}));
  // Not parsed: "[", "cls", "]" are words, and "cls" cannot be spelled.
  EXPECT_EQ(t.encode("[CLS]"), (Ids{0, 0, 0}));
  EXPECT_EQ(t.decode({1, 7, 4, 5, 10, 8, 9, 2}), "[CLS] unwanted , running [SEP]");
  EXPECT_EQ(t.token_bytes(4), "want");
  EXPECT_EQ(t.token_bytes(7), " un");
  EXPECT_EQ(t.token_bytes(1), "[CLS]");
  EXPECT_EQ(t.special_id("cls"), std::optional<int32_t>(1));
  EXPECT_EQ(t.special_id("unk"), std::optional<int32_t>(0));
  EXPECT_EQ(t.special_id("mask"), std::nullopt);
  EXPECT_THROW(t.decode({13}), Error);
}

TEST(WordPiece, LongWordsAreUnknown) {
  WordPieceOptions o;
  o.max_word_chars = 5;
  WordPieceTokenizer t({"[UNK]", "a", "##a"}, o, {"[UNK]"});
  EXPECT_EQ(t.encode("aaaaa aaaaaa"), (Ids{1, 2, 2, 2, 2, 0}));
  // Characters are counted, not bytes: five two-byte characters fit.
  o.text.lowercase = o.text.strip_accents = false;
  WordPieceTokenizer u({"[UNK]", "\u00E9", "##\u00E9"}, o, {"[UNK]"});
  EXPECT_EQ(u.encode("\u00E9\u00E9\u00E9\u00E9\u00E9", false), (Ids{1, 2, 2, 2, 2}));
}

TEST(WordPiece, BertVocabFileKeepsTheIdsOfItsSpecialTokens) {
  testing::TempDir dir;
  const std::string path = dir.str() + "/vocab.txt";
  {
    std::ofstream f(path);
    f << "[PAD]\n[unused0]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nthe\n##s\ncat\n.\n";
  }
  auto t = WordPieceTokenizer::from_vocab_file(
      path, WordPieceOptions{}, {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "<extra_id_0>"},
      std::nullopt);
  EXPECT_EQ(t->special_id("pad"), std::optional<int32_t>(0));
  EXPECT_EQ(t->special_id("unk"), std::optional<int32_t>(2));
  EXPECT_EQ(t->special_id("mask"), std::optional<int32_t>(5));
  // Not in the file: numbered after it.
  EXPECT_EQ(t->special_id("<extra_id_0>"), std::optional<int32_t>(10));
  EXPECT_EQ(t->vocab_size(), 11);
  EXPECT_EQ(t->encode("The cats."), (Ids{6, 8, 7, 9}));
  // [unused0] is an ordinary piece, never matched: "[" is punctuation.
  EXPECT_EQ(t->encode("[unused0]"), (Ids{2, 2, 2}));
  EXPECT_THROW(WordPieceTokenizer::from_vocab_file(dir.str() + "/missing.txt", {}, {}, {}), Error);
}

TEST(WordPiece, UnknownTokenMustExist) {
  try {
    WordPieceTokenizer t({"a"}, WordPieceOptions{}, {});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"[UNK]\" is neither in the vocabulary"),
              std::string::npos)
        << e.what();
  }
}

TEST(WordPieceTraining, MergesTheMostFrequentPairs) {
  // Words: ab x3, abc x1. Alphabet: a | ##b ##c. Pairs: (a, ##b) 4, (##b, ##c) 1.
  // Merge 1: a + ##b = ab (4). Then abc = [ab, ##c]: merge 2: ab + ##c = abc (1).
  WordPieceTrainOptions o;
  o.max_tokens = 100;
  o.min_frequency = 1;
  EXPECT_EQ(train_wordpiece({"ab ab AB abc"}, o, {}), (Words{"a", "##b", "##c", "ab", "abc"}));
  // min_frequency 2 stops before the second merge.
  o.min_frequency = 2;
  EXPECT_EQ(train_wordpiece({"ab ab AB abc"}, o, {}), (Words{"a", "##b", "##c", "ab"}));
  // Continuation pieces merge into continuation pieces: xab yab -> ##a + ##b = ##ab (2).
  o.min_frequency = 1;
  o.max_tokens = 5;
  EXPECT_EQ(train_wordpiece({"xab yab"}, o, {}), (Words{"x", "y", "##a", "##b", "##ab"}));
  // Ties go to the byte-wise smaller (left, right): ab before cd.
  o.max_tokens = 5;
  EXPECT_EQ(train_wordpiece({"cd ab"}, o, {}), (Words{"a", "c", "##b", "##d", "ab"}));
  // The alphabet must fit.
  o.max_tokens = 3;
  EXPECT_THROW(train_wordpiece({"cd ab"}, o, {}), Error);
}

TEST(WordPieceTraining, TokenizerPutsSpecialTokensFirst) {
  auto t =
      WordPieceTokenizer::trainable(10, 1, WordPieceOptions{}, bert_special_tokens(), std::nullopt);
  EXPECT_TRUE(t->needs_fit());
  EXPECT_THROW(t->encode("ab"), Error);
  t->fit({"ab ab AB abc [MASK]"});
  EXPECT_EQ(t->vocab(),
            (Words{"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "##b", "##c", "ab", "abc"}));
  EXPECT_EQ(t->encode("abc ab a z", false), (Ids{9, 8, 5, 1}));
  EXPECT_EQ(t->special_id("mask"), std::optional<int32_t>(4));
  // Deterministic: the same corpus gives the same vocabulary.
  auto u =
      WordPieceTokenizer::trainable(10, 1, WordPieceOptions{}, bert_special_tokens(), std::nullopt);
  u->fit({"ab ab AB abc [MASK]"});
  EXPECT_EQ(u->vocab(), t->vocab());
}

TEST(WordPiece, SaveAndLoad) {
  testing::TempDir dir;
  WordPieceOptions o;
  o.text.lowercase = false;
  o.text.strip_accents = false;
  o.max_word_chars = 7;
  auto t = WordPieceTokenizer::trainable(40, 1, o, bert_special_tokens(), std::string("[SEP]"));
  t->fit({"The Cat sat on the mat. The cats sat."});
  t->save(dir.str());
  auto u = WordPieceTokenizer::trainable(2000, 2, WordPieceOptions{}, bert_special_tokens(),
                                         std::nullopt);
  u->load(dir.str());
  EXPECT_EQ(u->vocab(), t->vocab());
  EXPECT_FALSE(u->options().text.lowercase);
  EXPECT_EQ(u->options().max_word_chars, 7);
  EXPECT_EQ(u->eos_id(), t->eos_id());
  const std::string text = "The cats sat on the Mat.";
  EXPECT_EQ(u->encode(text), t->encode(text));
  // A vocabulary that disagrees with the header is refused.
  std::ofstream(dir.str() + "/vocab.txt") << "[UNK]\n";
  EXPECT_THROW(u->load(dir.str()), Error);
}

}  // namespace
}  // namespace kiln::tokenizers
