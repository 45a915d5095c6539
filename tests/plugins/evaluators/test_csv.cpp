// The CSV reader on hand-written cases of everything MMLU's files hold (RFC 4180 quoting,
// mixed line endings, no final newline) and on malformed input.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "plugins/evaluators/csv.h"

namespace kiln::evaluators {
namespace {

using Records = std::vector<CsvRecord>;

std::string error_of(std::string_view text) {
  try {
    parse_csv(text, "f.csv");
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Csv, PlainRecordsWithAndWithoutFinalNewline) {
  EXPECT_EQ(parse_csv("a,b,c\n1,2,3\n"), (Records{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(parse_csv("a,b,c\n1,2,3"), (Records{{"a", "b", "c"}, {"1", "2", "3"}}));
  EXPECT_EQ(parse_csv(""), Records{});
}

TEST(Csv, MixedLineEndings) {
  EXPECT_EQ(parse_csv("a,b\r\nc,d\ne,f\rg,h\r\n"),
            (Records{{"a", "b"}, {"c", "d"}, {"e", "f"}, {"g", "h"}}));
}

TEST(Csv, QuotedFieldsHoldCommasQuotesAndLineBreaks) {
  const std::string text =
      "\"x, y\",\"say \"\"hi\"\"\",\"two\nlines\",\"crlf\r\nkept\"\r\n"
      "plain,\"\",\"\"\"\",end";
  EXPECT_EQ(parse_csv(text), (Records{{"x, y", "say \"hi\"", "two\nlines", "crlf\r\nkept"},
                                      {"plain", "", "\"", "end"}}));
}

TEST(Csv, EmptyFieldsAndBlankLines) {
  EXPECT_EQ(parse_csv("a,,c\n,\n\n\r\nb,\n"), (Records{{"a", "", "c"}, {"", ""}, {"b", ""}}));
  // A quoted empty field is a record, not a blank line.
  EXPECT_EQ(parse_csv("\"\"\n\"\""), (Records{{""}, {""}}));
  EXPECT_EQ(parse_csv("\"q\","), (Records{{"q", ""}}));
}

TEST(Csv, QuoteInsideAnUnquotedFieldIsKept) {
  EXPECT_EQ(parse_csv("5\" tall,b\n"), (Records{{"5\" tall", "b"}}));
}

TEST(Csv, MalformedInputNamesTheLineAndColumn) {
  EXPECT_NE(error_of("a,b\n\"open,c\nd").find("f.csv:2:1: a quoted field is never closed"),
            std::string::npos)
      << error_of("a,b\n\"open,c\nd");
  EXPECT_NE(error_of("a\n\"x\nz\"y,b").find("f.csv:3:3: unexpected 'y' after the closing quote"),
            std::string::npos)
      << error_of("a\n\"x\nz\"y,b");
}

}  // namespace
}  // namespace kiln::evaluators
