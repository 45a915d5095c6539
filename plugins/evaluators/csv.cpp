#include "plugins/evaluators/csv.h"

#include <fstream>
#include <sstream>

#include "core/base/error.h"

namespace kiln::evaluators {

std::vector<CsvRecord> parse_csv(std::string_view text, const std::string& source) {
  std::vector<CsvRecord> records;
  CsvRecord record;
  std::string field;
  bool quoted = false;  // whether the record's last field was quoted ("" is a field, not a blank)
  size_t i = 0, line = 1, line_start = 0;
  const size_t n = text.size();
  auto column = [&](size_t at) { return at - line_start + 1; };
  // After a field: ',' starts the next one, a line break (or the end) ends the record.
  auto end_record = [&] {
    record.push_back(std::move(field));
    field.clear();
    // A record that is one empty unquoted field is an empty line: no record.
    if (!(record.size() == 1 && record[0].empty() && !quoted)) records.push_back(std::move(record));
    record.clear();
    quoted = false;
  };
  auto skip_line_break = [&] {  // at '\r' or '\n'
    if (text[i] == '\r' && i + 1 < n && text[i + 1] == '\n') ++i;
    ++i;
    ++line;
    line_start = i;
  };
  while (i < n) {
    if (text[i] == '"') {  // a quoted field
      const size_t open_line = line, open_col = column(i);
      quoted = true;
      ++i;
      for (;;) {
        KILN_CHECK(i < n, source, ":", open_line, ":", open_col,
                   ": a quoted field is never closed (a '\"' without its closing '\"')");
        const char c = text[i];
        if (c == '"') {
          if (i + 1 < n && text[i + 1] == '"') {
            field += '"';
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        field += c;
        if (c == '\n' || (c == '\r' && !(i + 1 < n && text[i + 1] == '\n'))) {
          ++line;
          line_start = i + 1;
        }
        ++i;
      }
      KILN_CHECK(
          i == n || text[i] == ',' || text[i] == '\r' || text[i] == '\n', source, ":", line, ":",
          column(i), ": unexpected '", std::string(1, text[i]),
          "' after the closing quote of a quoted field (expected ',' or the end of the line)");
      if (i == n) break;
      if (text[i] == ',') {
        record.push_back(std::move(field));
        field.clear();
        quoted = false;
        ++i;
        if (i == n) break;  // "a," at the very end: a last empty field
        continue;
      }
      end_record();
      skip_line_break();
      continue;
    }
    // An unquoted field: up to ',' or a line break.
    while (i < n && text[i] != ',' && text[i] != '\r' && text[i] != '\n') field += text[i++];
    if (i == n) break;
    if (text[i] == ',') {
      record.push_back(std::move(field));
      field.clear();
      ++i;
      if (i == n) break;
      continue;
    }
    end_record();
    skip_line_break();
  }
  if (!record.empty() || !field.empty() || quoted) end_record();
  return records;
}

std::vector<CsvRecord> read_csv(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, "cannot read ", path);
  std::stringstream buf;
  buf << in.rdbuf();
  return parse_csv(buf.str(), path);
}

}  // namespace kiln::evaluators
