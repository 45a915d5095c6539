// GPT-2's pre-tokenisation on tricky inputs. Each expected split is worked out by hand from
// the regex 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ (the
// first alternative that matches at a position wins, each greedy with backtracking).
#include <gtest/gtest.h>
#include <rapidjson/document.h>

#include <random>

#include "plugins/tokenizers/pretokenize.h"
#include "plugins/tokenizers/unicode.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using Pieces = std::vector<std::string>;

Pieces split(std::string_view text) {
  Pieces out;
  for (std::string_view p : gpt2_pretokenize(text)) out.emplace_back(p);
  return out;
}

TEST(Pretokenize, WordsKeepTheirLeadingSpace) {
  EXPECT_EQ(split("Hello world"), (Pieces{"Hello", " world"}));
  EXPECT_EQ(split("hello,world"), (Pieces{"hello", ",", "world"}));
  EXPECT_EQ(split("Hello!!! ..."), (Pieces{"Hello", "!!!", " ..."}));
  EXPECT_EQ(split(""), Pieces{});
}

TEST(Pretokenize, Contractions) {
  EXPECT_EQ(split("I'm can't we'll they're I've he'd it's"),
            (Pieces{"I", "'m", " can", "'t", " we", "'ll", " they", "'re", " I", "'ve", " he", "'d",
                    " it", "'s"}));
  // Case-sensitive: "'S" is no contraction, so the apostrophe is punctuation of its own.
  EXPECT_EQ(split("IT'S"), (Pieces{"IT", "'", "S"}));
  EXPECT_EQ(split("y'all'd've"), (Pieces{"y", "'", "all", "'d", "'ve"}));
  // The punctuation run is greedy and swallows the apostrophe of a would-be contraction.
  EXPECT_EQ(split("''s"), (Pieces{"''", "s"}));
  EXPECT_EQ(split("!'s"), (Pieces{"!'", "s"}));
  EXPECT_EQ(split("'sup"), (Pieces{"'s", "up"}));
  EXPECT_EQ(split("dogs'"), (Pieces{"dogs", "'"}));
  EXPECT_EQ(split(" 's"), (Pieces{" '", "s"}));
  EXPECT_EQ(split("'"), (Pieces{"'"}));
  EXPECT_EQ(split("'l"), (Pieces{"'", "l"}));
}

TEST(Pretokenize, Digits) {
  EXPECT_EQ(split("In 1969, 3.14"), (Pieces{"In", " 1969", ",", " 3", ".", "14"}));
  EXPECT_EQ(split("12345678901234567890x"), (Pieces{"12345678901234567890", "x"}));
  EXPECT_EQ(split("abc123"), (Pieces{"abc", "123"}));
  // Arabic-Indic digits (Nd) and a Roman numeral (Nl) are numbers.
  EXPECT_EQ(split("\u0663\u0664 \u216B"), (Pieces{"\u0663\u0664", " \u216B"}));
}

TEST(Pretokenize, WhitespaceRuns) {
  EXPECT_EQ(split("a  b"), (Pieces{"a", " ", " b"}));
  EXPECT_EQ(split("a   b"), (Pieces{"a", "  ", " b"}));
  EXPECT_EQ(split("a\n\nb"), (Pieces{"a", "\n", "\n", "b"}));
  EXPECT_EQ(split("a \n b"), (Pieces{"a", " \n", " b"}));
  EXPECT_EQ(split("a  "), (Pieces{"a", "  "}));  // a run that ends the text stays whole
  EXPECT_EQ(split("a\n\n\n"), (Pieces{"a", "\n\n\n"}));
  EXPECT_EQ(split("   a"), (Pieces{"  ", " a"}));
  EXPECT_EQ(split("\t\ta"), (Pieces{"\t", "\t", "a"}));
  EXPECT_EQ(split(" "), (Pieces{" "}));
  EXPECT_EQ(split("a\r\nb"), (Pieces{"a", "\r", "\n", "b"}));
  // No-break space and ideographic space are whitespace; alone before a letter, each is a piece.
  EXPECT_EQ(split("a\u00A0b"), (Pieces{"a", "\u00A0", "b"}));
  EXPECT_EQ(split("a\u3000\u3000b"), (Pieces{"a", "\u3000", "\u3000", "b"}));
  // A space before whitespace does not join the word after it.
  EXPECT_EQ(split("x \u00A0y"), (Pieces{"x", " ", "\u00A0", "y"}));
}

TEST(Pretokenize, NonAsciiLetters) {
  EXPECT_EQ(split("café naïve Москва 東京"), (Pieces{"café", " naïve", " Москва", " 東京"}));
  // A combining accent (Mn) is neither letter nor number.
  EXPECT_EQ(split("cafe\u0301s"), (Pieces{"cafe", "\u0301", "s"}));
  // CJK Extension B, outside the Basic Multilingual Plane, is a letter.
  EXPECT_EQ(split("a \U00020000\U00020001"), (Pieces{"a", " \U00020000\U00020001"}));
}

TEST(Pretokenize, Emoji) {
  EXPECT_EQ(split("hi 😀😀!"), (Pieces{"hi", " 😀😀!"}));
  // A family: emoji joined by ZWJ (Cf) is one run of "other" characters.
  EXPECT_EQ(split("x👨\u200D👩"), (Pieces{"x", "👨\u200D👩"}));
}

TEST(Pretokenize, InvalidUtf8IsOtherCharacters) {
  EXPECT_EQ(split("a\xFF\xFE"
                  "b"),
            (Pieces{"a", "\xFF\xFE", "b"}));
  EXPECT_EQ(split(" \xC3"), (Pieces{" \xC3"}));                      // truncated sequence
  EXPECT_EQ(split("\xED\xA0\x80x"), (Pieces{"\xED\xA0\x80", "x"}));  // an encoded surrogate
}

// 400 random strings split by GPT-2's regex in Python's `regex` module, the engine of GPT-2's
// encoder.py (tools/gen_pretokenize_cases.py wrote them).
TEST(Pretokenize, MatchesPythonRegexOnRandomText) {
  const std::string path = std::string(KILN_TOKENIZERS_TEST_DATA) + "/gpt2_pretokenize_regex.jsonl";
  const std::string all = testing::slurp(path);
  ASSERT_FALSE(all.empty()) << path;
  size_t lines = 0;
  for (size_t pos = 0; pos < all.size();) {
    size_t end = all.find('\n', pos);
    if (end == std::string::npos) end = all.size();
    const std::string line = all.substr(pos, end - pos);
    pos = end + 1;
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    ASSERT_FALSE(d.HasParseError()) << path << ":" << lines + 1;
    Pieces want;
    for (const auto& p : d["pieces"].GetArray())
      want.emplace_back(p.GetString(), p.GetStringLength());
    EXPECT_EQ(split(std::string(d["text"].GetString(), d["text"].GetStringLength())), want)
        << path << ":" << lines + 1 << ": " << line;
    ++lines;
  }
  EXPECT_EQ(lines, 400u);
}

TEST(Pretokenize, UnicodeClasses) {
  EXPECT_EQ(char_class('a'), kLetter);
  EXPECT_EQ(char_class('5'), kNumber);
  EXPECT_EQ(char_class(' '), kSpace);
  EXPECT_EQ(char_class(0x0B), kSpace);
  EXPECT_EQ(char_class(0x85), kSpace);
  EXPECT_EQ(char_class(0x1C), kOther);  // a separator to str.isspace(), not White_Space
  EXPECT_EQ(char_class(0x3000), kSpace);
  EXPECT_EQ(char_class(0x2028), kSpace);
  EXPECT_EQ(char_class(0x200B), kOther);  // zero-width space is Cf
  EXPECT_EQ(char_class(0xFEFF), kOther);
  EXPECT_EQ(char_class(0x180E), kOther);
  EXPECT_EQ(char_class(0x0301), kOther);
  EXPECT_EQ(char_class(0x00AA), kLetter);  // ª is Lo
  EXPECT_EQ(char_class(0x4E2D), kLetter);
  EXPECT_EQ(char_class(0x00B2), kNumber);  // superscript two is No
  EXPECT_EQ(char_class(0x1F600), kOther);
  EXPECT_EQ(char_class(0x20000), kLetter);
  EXPECT_EQ(char_class(0x1D7CE), kNumber);  // mathematical bold digit zero
  EXPECT_EQ(char_class(0x110000), kOther);
}

TEST(Pretokenize, PiecesConcatenateToTheText) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 200; ++trial) {
    const std::string text =
        trial % 2 ? testing::random_text(rng, 50) : testing::random_bytes(rng, 60);
    std::string joined;
    for (std::string_view p : gpt2_pretokenize(text)) {
      ASSERT_FALSE(p.empty());
      joined += p;
    }
    EXPECT_EQ(joined, text);
  }
}

TEST(Pretokenize, ChunksSplitLikeTheWholeText) {
  std::mt19937 rng(11);
  for (int trial = 0; trial < 50; ++trial) {
    std::string text;
    for (int line = 0; line < 40; ++line)
      text += testing::random_text(rng, 12) + (line % 3 ? ".\nx" : "\n");
    const std::vector<size_t> bounds = pretokenize_chunks(text, 17);
    ASSERT_GE(bounds.size(), 3u);
    EXPECT_EQ(bounds.front(), 0u);
    EXPECT_EQ(bounds.back(), text.size());
    std::vector<std::string_view> chunked;
    for (size_t i = 0; i + 1 < bounds.size(); ++i) {
      for (std::string_view p :
           gpt2_pretokenize(std::string_view(text).substr(bounds[i], bounds[i + 1] - bounds[i])))
        chunked.push_back(p);
    }
    EXPECT_EQ(chunked, gpt2_pretokenize(text));
  }
}

}  // namespace
}  // namespace kiln::tokenizers
