// The char and byte tokenizers: vocabularies, special tokens, errors, save and load.
#include <gtest/gtest.h>

#include <random>
#include <set>

#include "core/base/error.h"
#include "plugins/tokenizers/byte_tokenizer.h"
#include "plugins/tokenizers/char_tokenizer.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using testing::exists;
using testing::shared_data;
using testing::slurp;

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(CharTokenizer, TinyShakespeareHas65Symbols) {
  const std::string path = shared_data("tinyshakespeare/input.txt");
  if (!exists(path)) GTEST_SKIP() << path << " is absent (see shared/data/README.md)";
  const std::string text = slurp(path);
  CharTokenizer tok;
  EXPECT_TRUE(tok.needs_fit());
  tok.fit({text});
  EXPECT_FALSE(tok.needs_fit());
  EXPECT_EQ(tok.vocab_size(), 65);
  // nanoGPT's prepare.py: chars = sorted(list(set(data))), stoi = {ch: i}.
  std::set<char> distinct(text.begin(), text.end());
  std::vector<char32_t> want(distinct.begin(), distinct.end());
  EXPECT_EQ(tok.chars(), want);
  EXPECT_EQ(tok.encode("\n")[0], 0);  // the smallest character
  EXPECT_EQ(tok.token_bytes(1), " ");
  const std::vector<int32_t> ids = tok.encode(text);
  ASSERT_EQ(ids.size(), text.size());
  for (size_t i = 0; i < text.size(); i += 997)
    EXPECT_EQ(ids[i], std::lower_bound(want.begin(), want.end(), char32_t(text[i])) - want.begin());
  EXPECT_EQ(tok.decode(ids), text);
}

TEST(CharTokenizer, UnicodeCharactersInCodePointOrder) {
  CharTokenizer tok;
  tok.fit({"żółw", "ab€😀a"});
  // a b w ó ż € 😀 by code point: 0x61 0x62 0x77 0xF3 0x17C 0x20AC 0x1F600 (ł is 0x142).
  EXPECT_EQ(tok.chars(),
            (std::vector<char32_t>{0x61, 0x62, 0x77, 0xF3, 0x142, 0x17C, 0x20AC, 0x1F600}));
  EXPECT_EQ(tok.encode("😀ża"), (std::vector<int32_t>{7, 5, 0}));
  EXPECT_EQ(tok.decode({7, 5, 0}), "😀ża");
  EXPECT_EQ(tok.eos_id(), std::nullopt);
}

TEST(CharTokenizer, UnknownCharacterIsNamedWithItsPlace) {
  CharTokenizer tok;
  tok.fit({"abc\nde"});
  const std::string msg = error_of([&] { tok.encode("abc\ndé"); });
  EXPECT_NE(msg.find("'é' (U+00E9)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 2, column 2 (byte 5)"), std::string::npos) << msg;
  EXPECT_NE(msg.find("6 characters"), std::string::npos) << msg;
  // Control characters are named by code point alone.
  const std::string tab = error_of([&] { tok.encode("a\t"); });
  EXPECT_NE(tab.find("U+0009"), std::string::npos) << tab;
  EXPECT_NE(tab.find("line 1, column 2"), std::string::npos) << tab;
}

// unknown = "skip" drops characters outside the vocabulary, "replace" writes the replacement
// in their place (ASCII and not); both count them. The default stays an error.
TEST(CharTokenizer, UnknownCharactersSkippedOrReplaced) {
  CharTokenizer skip({}, std::nullopt, std::nullopt, UnknownChar::skip);
  skip.fit({"abc ?"});  // ' ' 0, '?' 1, a 2, b 3, c 4
  EXPECT_EQ(skip.encode("a(b)é c"), (std::vector<int32_t>{2, 3, 0, 4}));
  EXPECT_EQ(skip.unknown_count(), 3);
  CharTokenizer replace({}, std::nullopt, std::nullopt, UnknownChar::replace, "?");
  replace.fit({"abc ?"});
  EXPECT_EQ(replace.encode("a(b)é c"), (std::vector<int32_t>{2, 1, 3, 1, 1, 0, 4}));
  EXPECT_EQ(replace.unknown_count(), 3);
  EXPECT_EQ(replace.decode(replace.encode("7 b")), "? b");
  // A saved vocabulary loaded into a tokenizer with another policy follows that policy.
  testing::TempDir dir;
  replace.save(dir.str());
  CharTokenizer strict;
  strict.load(dir.str());
  EXPECT_NE(error_of([&] { strict.encode("a7"); }).find("'7' (U+0037)"), std::string::npos);
  CharTokenizer lenient({}, std::nullopt, std::nullopt, UnknownChar::replace, "a");
  lenient.load(dir.str());
  EXPECT_EQ(lenient.encode("a7"), (std::vector<int32_t>{2, 2}));
}

TEST(CharTokenizer, BadReplacementIsAnError) {
  const std::string two =
      error_of([] { CharTokenizer({}, std::nullopt, std::nullopt, UnknownChar::replace, "ab"); });
  EXPECT_NE(two.find("replacement must be one character, got \"ab\""), std::string::npos) << two;
  EXPECT_NE(error_of([] {
              CharTokenizer({}, std::nullopt, std::nullopt, UnknownChar::replace, "");
            }).find("one character"),
            std::string::npos);
  CharTokenizer tok({}, std::nullopt, std::nullopt, UnknownChar::replace, "?");
  const std::string missing = error_of([&] { tok.fit({"abc"}); });
  EXPECT_NE(missing.find("the replacement character '?' (U+003F) is not in the vocabulary of 3"),
            std::string::npos)
      << missing;
}

TEST(CharTokenizer, InvalidUtf8AndUnfittedAreErrors) {
  CharTokenizer tok;
  EXPECT_NE(error_of([&] { tok.encode("a"); }).find("has not been learned"), std::string::npos);
  EXPECT_NE(error_of([&] { tok.vocab_size(); }).find("has not been learned"), std::string::npos);
  const std::string msg = error_of([&] { tok.fit({"ok", "ab\xFF"}); });
  EXPECT_NE(msg.find("invalid UTF-8 byte 0xFF in document 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("line 1, column 3 (byte 2)"), std::string::npos) << msg;
  EXPECT_NE(error_of([&] { tok.fit({""}); }).find("empty"), std::string::npos);
}

TEST(CharTokenizer, SpecialTokensFollowTheCharacters) {
  CharTokenizer tok({"<|endoftext|>", "<pad>"});
  tok.fit({"ba"});
  EXPECT_EQ(tok.vocab_size(), 4);
  EXPECT_EQ(tok.special_tokens(),
            (std::map<std::string, int32_t>{{"<|endoftext|>", 2}, {"<pad>", 3}}));
  EXPECT_EQ(tok.eos_id(), std::optional<int32_t>(2));
  EXPECT_EQ(tok.encode("ab<|endoftext|>b<pad>", true), (std::vector<int32_t>{0, 1, 2, 1, 3}));
  EXPECT_EQ(tok.decode({0, 2, 3}), "a<|endoftext|><pad>");
  // As text, "<" is not in the vocabulary.
  EXPECT_NE(error_of([&] { tok.encode("a<pad>"); }).find("'<' (U+003C)"), std::string::npos);
}

TEST(CharTokenizer, FixedCharacters) {
  CharTokenizer tok({}, std::nullopt, "cab");
  EXPECT_FALSE(tok.needs_fit());
  EXPECT_EQ(tok.encode("abc"), (std::vector<int32_t>{0, 1, 2}));
}

TEST(CharTokenizer, SaveLoadRoundTrip) {
  testing::TempDir dir;
  CharTokenizer tok({"<|endoftext|>"});
  tok.fit({"Hello, wörld!\n\t\"quoted\" \\ 😀"});
  tok.save(dir.str());
  CharTokenizer restored({"<|endoftext|>"});
  restored.load(dir.str());
  EXPECT_FALSE(restored.needs_fit());
  EXPECT_EQ(restored.chars(), tok.chars());
  EXPECT_EQ(restored.vocab_size(), tok.vocab_size());
  EXPECT_EQ(restored.special_tokens(), tok.special_tokens());
  EXPECT_EQ(restored.eos_id(), tok.eos_id());
  const std::string text = "wörld 😀\"\\<|endoftext|>";
  EXPECT_EQ(restored.encode(text, true), tok.encode(text, true));
  // Another type's directory is refused, naming both.
  ByteTokenizer bytes;
  testing::TempDir other;
  bytes.save(other.str());
  const std::string msg = error_of([&] { restored.load(other.str()); });
  EXPECT_NE(msg.find("a byte tokenizer, not the char tokenizer"), std::string::npos) << msg;
  EXPECT_EQ(restored.chars(), tok.chars());  // unchanged by the failed load
  EXPECT_NE(
      error_of([&] { restored.load("/nonexistent/run"); }).find("/nonexistent/run/tokenizer.json"),
      std::string::npos);
}

TEST(ByteTokenizer, BytesAreIds) {
  ByteTokenizer tok;
  EXPECT_EQ(tok.vocab_size(), 256);
  EXPECT_FALSE(tok.needs_fit());
  EXPECT_EQ(tok.encode(std::string("A\xFF\x00z", 4)), (std::vector<int32_t>{65, 255, 0, 122}));
  const std::string all = [] {
    std::string s;
    for (int b = 0; b < 256; ++b) s += char(b);
    return s;
  }();
  const std::vector<int32_t> ids = tok.encode(all);
  for (int b = 0; b < 256; ++b) EXPECT_EQ(ids[size_t(b)], b);
  EXPECT_EQ(tok.decode(ids), all);
  EXPECT_EQ(tok.eos_id(), std::nullopt);
  EXPECT_THROW(tok.decode({256}), Error);
}

TEST(ByteTokenizer, SpecialTokensFrom256) {
  ByteTokenizer tok({"<|endoftext|>", "<s>"}, std::string("<s>"));
  EXPECT_EQ(tok.vocab_size(), 258);
  EXPECT_EQ(tok.eos_id(), std::optional<int32_t>(257));
  EXPECT_EQ(tok.encode("a<s><|endoftext|>", true), (std::vector<int32_t>{97, 257, 256}));
  EXPECT_EQ(tok.encode("<s>", false), (std::vector<int32_t>{'<', 's', '>'}));
  EXPECT_EQ(tok.decode({257, 98}), "<s>b");
  // The longest special token wins where two start at the same place.
  ByteTokenizer nested({"<a>", "<a>>"});
  EXPECT_EQ(nested.encode("<a>><a>", true), (std::vector<int32_t>{257, 256}));
}

TEST(ByteTokenizer, BadSpecialTokensAreErrors) {
  EXPECT_NE(error_of([] {
              ByteTokenizer({"<s>", "<s>"});
            }).find("\"<s>\" is listed twice"),
            std::string::npos);
  EXPECT_NE(error_of([] { ByteTokenizer({""}); }).find("empty"), std::string::npos);
  EXPECT_NE(error_of([] {
              ByteTokenizer({"<s>"}, std::string("</s>"));
            }).find("eos = \"</s>\" is not one of"),
            std::string::npos);
}

TEST(ByteTokenizer, SaveLoadRoundTrip) {
  testing::TempDir dir;
  ByteTokenizer tok({"<|endoftext|>", "<pad>"});
  tok.save(dir.str());
  ByteTokenizer restored;
  restored.load(dir.str());
  EXPECT_EQ(restored.vocab_size(), 258);
  EXPECT_EQ(restored.special_tokens(), tok.special_tokens());
  EXPECT_EQ(restored.eos_id(), std::optional<int32_t>(256));
  EXPECT_EQ(restored.encode("x<pad>", true), (std::vector<int32_t>{'x', 257}));
}

}  // namespace
}  // namespace kiln::tokenizers
