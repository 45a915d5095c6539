// Bytes and words as lm-evaluation-harness counts them; expected values are Python's
// len(re.split(r"\s+", s)), worked by hand.
#include <gtest/gtest.h>

#include "plugins/evaluators/text_stats.h"

namespace kiln::evaluators {
namespace {

TEST(CountWords, MatchesPythonReSplitOnWhitespace) {
  EXPECT_EQ(count_words(""), 1);               // ['']
  EXPECT_EQ(count_words("a"), 1);              // ['a']
  EXPECT_EQ(count_words("a b"), 2);            // ['a', 'b']
  EXPECT_EQ(count_words(" a b "), 4);          // ['', 'a', 'b', '']
  EXPECT_EQ(count_words("a \t\n\r\f\vb"), 2);  // one run
  EXPECT_EQ(count_words("a\n\nb\n"), 3);       // ['a', 'b', '']
  EXPECT_EQ(count_words("\t"), 2);             // ['', '']
}

TEST(CountWords, UnicodeWhitespaceAsPythonStrIsspace) {
  EXPECT_EQ(count_words("a\xc2\xa0"
                        "b"),
            2);  // U+00A0 no-break space
  EXPECT_EQ(count_words("a\xe3\x80\x80"
                        "b"),
            2);  // U+3000 ideographic space
  EXPECT_EQ(count_words("a\xe2\x80\xa8"
                        "b"),
            2);  // U+2028 line separator
  EXPECT_EQ(count_words("a\xc2\x85"
                        "b"),
            2);  // U+0085 next line
  EXPECT_EQ(count_words("a\x1c"
                        "b"),
            2);  // file separator: isspace() in Python
  EXPECT_EQ(count_words("a\xe2\x80\x8b"
                        "b"),
            1);  // U+200B zero-width space: not whitespace
  EXPECT_EQ(count_words("h\xc3\xa9llo w\xc3\xb6rld"), 2);
  EXPECT_EQ(count_words("a\xff b"), 2);     // a malformed byte is a character
  EXPECT_EQ(count_words("a \xe3\x80"), 2);  // truncated sequence at the end
}

}  // namespace
}  // namespace kiln::evaluators
