// GPT-2's pre-tokenisation: the text is cut into pieces by the regular expression
//
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
//
// and BPE runs inside each piece. std::regex has no \p{L}, so the expression is matched by
// hand over UTF-8: at each position the alternatives are tried in order, as the regex engine
// does, which comes down to looking at the first one or two characters:
//
//   - an apostrophe followed by s, t, m, d, re, ve or ll (case-sensitive) is a contraction;
//   - otherwise the class of the first character, or of the second when the first is a space
//     (0x20) and the second is no whitespace, picks a run of letters, numbers or "other"
//     characters (neither whitespace, letter nor number), taking the space with it;
//   - a run of whitespace ending the text is one piece (\s+(?!\S) at the end); a run of k >= 2
//     whitespace characters followed by a non-space gives up its last character (\s+ backtracks
//     until (?!\S) holds), which then starts the next piece, so that " word" keeps its space; a
//     single whitespace character before a non-space is a piece of its own (\s+).
//
// Bytes that are not valid UTF-8 are single characters of the class "other" (the regex never
// sees them in GPT-2, whose text is a Python str), so every byte string splits losslessly.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include "plugins/tokenizers/unicode.h"

namespace kiln::tokenizers {

namespace detail {

inline CharClass class_of(const Utf8Char& ch) {
  return ch.valid ? char_class(ch.cp) : kOther;
}

// The end of the run of characters of class k starting at byte i.
inline size_t run_end(std::string_view s, size_t i, CharClass k) {
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    if (b < 0x80) {  // ASCII fast path
      if (char_class(b) != k) break;
      ++i;
      continue;
    }
    const Utf8Char ch = decode_utf8(s, i);
    if (class_of(ch) != k) break;
    i += ch.len;
  }
  return i;
}

// The length of a contraction starting at s[i] == '\'', or 0.
inline size_t contraction_len(std::string_view s, size_t i) {
  if (i + 1 >= s.size()) return 0;
  const char a = s[i + 1];
  if (a == 's' || a == 't' || a == 'm' || a == 'd') return 2;
  if (i + 2 >= s.size()) return 0;
  const char b = s[i + 2];
  if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
  return 0;
}

// The end of the piece that starts at byte i (< s.size()).
inline size_t piece_end(std::string_view s, size_t i) {
  const Utf8Char c0 = decode_utf8(s, i);
  if (c0.cp == '\'' && c0.valid) {
    if (size_t n = contraction_len(s, i)) return i + n;
  }
  CharClass k = class_of(c0);
  if (c0.cp == ' ' && c0.valid && i + 1 < s.size()) {
    const Utf8Char c1 = decode_utf8(s, i + 1);
    const CharClass k1 = class_of(c1);
    if (k1 != kSpace) return run_end(s, i + 1 + c1.len, k1);  // " ?\p{L}+" and its siblings
  }
  if (k != kSpace) return run_end(s, i + c0.len, k);
  // Whitespace: find the run and the start of its last character.
  size_t last = i, j = i + c0.len;
  while (j < s.size()) {
    const Utf8Char ch = decode_utf8(s, j);
    if (class_of(ch) != kSpace) break;
    last = j;
    j += ch.len;
  }
  if (j == s.size()) return j;  // \s+(?!\S) at the end of the text
  return last > i ? last : j;   // \s+(?!\S) backtracked by one character, or \s+
}

}  // namespace detail

/// Calls f(piece) for each piece of text, in order; the pieces concatenate to text.
template <class F>
void gpt2_pretokenize(std::string_view text, F&& f) {
  for (size_t i = 0; i < text.size();) {
    const size_t e = detail::piece_end(text, i);
    f(text.substr(i, e - i));
    i = e;
  }
}

/// The pieces as a vector (tests, small inputs).
std::vector<std::string_view> gpt2_pretokenize(std::string_view text);

/// Cuts text into chunks of about `target` bytes whose pre-tokenisations, concatenated, equal
/// the whole text's, so that chunks can be processed in parallel. Returns the boundaries
/// {0, ..., text.size()}. A chunk ends after a newline that has a printable ASCII character on
/// each side: the newline is then a piece of its own both in the whole text and at the end of a
/// chunk, and matching from the next character depends on nothing before it.
std::vector<size_t> pretokenize_chunks(std::string_view text, size_t target);

}  // namespace kiln::tokenizers
