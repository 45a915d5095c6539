// JSON Lines, as the jsonl and preference datasets read them: one JSON value a line, blank
// lines skipped, every error naming the file and line.
#pragma once

#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "core/base/error.h"

namespace kiln::datasets {

/// Calls f(document, at, line_no) for each non-blank line of content, parsed as JSON; `at` is
/// "<where><file>:<line>: " for the caller's own messages. A line that is not JSON, or content
/// with no line at all, throws kiln::Error naming the file (and line and column).
template <class F>
void for_each_json_line(std::string_view content, const std::string& file,
                        const std::string& where, F&& f) {
  size_t pos = 0;
  int64_t line_no = 0, records = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    std::string_view line =
        content.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
    pos = nl == std::string_view::npos ? content.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    ++records;
    const std::string at = str_cat(where, file, ":", line_no, ": ");
    rapidjson::Document d;
    d.Parse(line.data(), line.size());
    KILN_CHECK(!d.HasParseError(), at,
               "not valid JSON: ", rapidjson::GetParseError_En(d.GetParseError()), " (at column ",
               d.GetErrorOffset() + 1, ")");
    f(static_cast<const rapidjson::Document&>(d), at, line_no);
  }
  KILN_CHECK(records > 0, where, "\"", file, "\": no JSON records (only blank lines)");
}

}  // namespace kiln::datasets
