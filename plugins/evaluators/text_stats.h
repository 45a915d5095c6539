// Counting a text the way lm-evaluation-harness does for its perplexity metrics: bytes are the
// UTF-8 bytes, words are the pieces of Python's re.split(r"\s+", text).
#pragma once

#include <cstdint>
#include <string_view>

namespace kiln::evaluators {

/// Whether a code point is whitespace for Python's str.isspace() (and so for `\s` in a str
/// pattern): U+0009-000D, U+001C-001F, space, U+0085, U+00A0, U+1680, U+2000-200A, U+2028,
/// U+2029, U+202F, U+205F, U+3000.
bool is_python_space(char32_t c);

/// len(re.split(r"\s+", text)): one more than the number of maximal whitespace runs, so a
/// leading or trailing run counts an empty piece ("a b\n" -> 3, "" -> 1), exactly as the
/// harness's word_perplexity denominator. The text is UTF-8; a malformed byte counts as one
/// non-space character.
int64_t count_words(std::string_view text);

}  // namespace kiln::evaluators
