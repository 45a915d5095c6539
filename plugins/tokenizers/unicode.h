// UTF-8 decoding and the Unicode classes GPT-2's pre-tokenisation needs: letters (\p{L}),
// numbers (\p{N}) and whitespace (\s), from tables generated out of Unicode's character data
// (tools/gen_unicode_tables.py writes unicode_tables.inc).
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/utf8.h"

namespace kiln::tokenizers {

enum CharClass : uint8_t { kOther = 0, kLetter = 1, kNumber = 2, kSpace = 3 };

namespace detail {
/// The Basic Multilingual Plane, one class a code point (built at compile time in unicode.cpp):
/// text is nearly all BMP, and a table look-up is what makes pre-tokenisation fast.
extern const std::array<CharClass, 0x10000> kBmpClasses;
/// Code points above U+FFFF: a binary search over the ranges.
CharClass astral_class(char32_t c);
}  // namespace detail

/// The class of a code point: kLetter for general categories L*, kNumber for N*, kSpace for
/// the White_Space property, kOther for everything else (and for code points > U+10FFFF).
inline CharClass char_class(char32_t c) {
  return c <= 0xFFFF ? detail::kBmpClasses[c] : detail::astral_class(c);
}
/// The Unicode version the tables were generated from ("14.0.0").
const char* unicode_version();

/// One decoded character: its code point and its length in bytes. An invalid or truncated
/// sequence decodes as one byte with `valid` false (and cp = the byte), so that every byte
/// string splits into characters and nothing is lost.
struct Utf8Char {
  char32_t cp;
  uint32_t len;
  bool valid;
};

/// Decodes the character starting at s[i] (i < s.size()). Rejects overlong forms, surrogates
/// and code points above U+10FFFF as invalid, as the Unicode standard requires.
inline Utf8Char decode_utf8(std::string_view s, size_t i) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) return {b0, 1, true};
  const size_t left = s.size() - i;
  auto cont = [&](size_t k) {
    return k < left && (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
  };
  auto byte = [&](size_t k) { return char32_t(static_cast<unsigned char>(s[i + k]) & 0x3F); };
  if (b0 >= 0xC2 && b0 <= 0xDF && cont(1)) return {char32_t(b0 & 0x1F) << 6 | byte(1), 2, true};
  if (b0 >= 0xE0 && b0 <= 0xEF && cont(1) && cont(2)) {
    char32_t cp = char32_t(b0 & 0x0F) << 12 | byte(1) << 6 | byte(2);
    if (cp >= 0x800 && (cp < 0xD800 || cp > 0xDFFF)) return {cp, 3, true};
  }
  if (b0 >= 0xF0 && b0 <= 0xF4 && cont(1) && cont(2) && cont(3)) {
    char32_t cp = char32_t(b0 & 0x07) << 18 | byte(1) << 12 | byte(2) << 6 | byte(3);
    if (cp >= 0x10000 && cp <= 0x10FFFF) return {cp, 4, true};
  }
  return {b0, 1, false};
}

/// "'é' (U+00E9)" for error messages; control characters are shown by their code point only.
std::string describe_char(char32_t cp);
/// "U+00E9".
std::string code_point_str(char32_t cp);

/// 1-based line and column (in characters) of byte offset `pos` in text, for error messages.
struct TextPosition {
  size_t line, column;
};
TextPosition text_position(std::string_view text, size_t pos);

}  // namespace kiln::tokenizers
