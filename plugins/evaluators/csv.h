// A CSV reader for the data sets' own files (MMLU's <subject>_<split>.csv): RFC 4180 with the
// leniencies of Python's csv module that real files need.
//
//   - Fields are separated by ',' and records end at "\r\n", "\n" or a lone "\r", mixed freely
//     within one file; the last record needs no terminator.
//   - A field that starts with '"' is quoted: it runs to the next '"' not doubled, holds commas
//     and line breaks verbatim (a "\r\n" inside stays "\r\n"), and "" in it is one '"'. After
//     its closing quote only ',' or the end of the record may follow.
//   - A '"' inside an unquoted field is an ordinary character (as Python's csv reads it).
//   - An empty line is no record (Python's csv gives an empty row there; callers skipped it).
// Errors (an unterminated quote, text after a closing quote) name the source, line and column.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace kiln::evaluators {

using CsvRecord = std::vector<std::string>;

/// The records of CSV text; `source` names it in error messages (a file path).
std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& source = "csv");

/// parse_csv of a file's bytes; throws kiln::Error when it cannot be read.
std::vector<CsvRecord> read_csv(const std::string& path);

}  // namespace kiln::evaluators
