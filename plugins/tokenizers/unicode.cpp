#include "plugins/tokenizers/unicode.h"

#include <algorithm>
#include <array>
#include <cstdio>

namespace kiln::tokenizers {
namespace {

struct UnicodeRange {
  char32_t first, last;
  CharClass cls;
};

#include "plugins/tokenizers/unicode_tables.inc"

}  // namespace

namespace detail {

constexpr std::array<CharClass, 0x10000> build_bmp_table() {
  std::array<CharClass, 0x10000> t{};
  for (const UnicodeRange& r : kUnicodeRanges) {
    if (r.first > 0xFFFF) break;
    for (char32_t c = r.first; c <= r.last && c <= 0xFFFF; ++c) t[c] = r.cls;
  }
  return t;
}

// Computed by the compiler, so it is in place before any code runs.
extern constexpr std::array<CharClass, 0x10000> kBmpClasses = build_bmp_table();

CharClass astral_class(char32_t c) {
  const auto* end = std::end(kUnicodeRanges);
  const auto* it = std::upper_bound(std::begin(kUnicodeRanges), end, c,
                                    [](char32_t v, const UnicodeRange& r) { return v < r.first; });
  if (it == std::begin(kUnicodeRanges)) return kOther;
  --it;
  return c <= it->last ? it->cls : kOther;
}

}  // namespace detail

const char* unicode_version() {
  return kUnicodeVersion;
}

std::string code_point_str(char32_t cp) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "U+%04X", unsigned(cp));
  return buf;
}

std::string describe_char(char32_t cp) {
  // Control characters and whitespace other than the space would be invisible or break the
  // message's line: name them by code point alone.
  if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0) ||
      (cp != ' ' && char_class(cp) == kSpace) || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
    return code_point_str(cp);
  std::string s = "'";
  append_utf8(s, cp);
  return s + "' (" + code_point_str(cp) + ")";
}

TextPosition text_position(std::string_view text, size_t pos) {
  TextPosition p{1, 1};
  for (size_t i = 0; i < pos && i < text.size();) {
    if (text[i] == '\n') {
      ++p.line;
      p.column = 1;
      ++i;
      continue;
    }
    i += decode_utf8(text, i).len;
    ++p.column;
  }
  return p;
}

}  // namespace kiln::tokenizers
