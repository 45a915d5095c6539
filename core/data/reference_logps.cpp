#include "core/data/reference_logps.h"

#include <rapidjson/document.h>

#include <cstdio>
#include <fstream>
#include <iterator>
#include <string_view>

#include "core/base/error.h"
#include "core/io/file.h"

namespace kiln::data {

void write_reference_logps(const std::string& path, const std::vector<double>& chosen,
                           const std::vector<double>& rejected) {
  KILN_CHECK(chosen.size() == rejected.size(), "write_reference_logps: ", chosen.size(),
             " chosen and ", rejected.size(), " rejected log-probs");
  std::string text;
  char buf[128];
  for (size_t i = 0; i < chosen.size(); ++i) {
    std::snprintf(buf, sizeof buf, "{\"chosen\": %.17g, \"rejected\": %.17g}\n", chosen[i],
                  rejected[i]);
    text += buf;
  }
  io::write_file_atomically(path, text);
}

std::vector<double> read_reference_logps(const std::string& path, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in.good(), where, "cannot read reference log-probs \"", path, "\"");
  const std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<double> out;
  size_t pos = 0;
  int64_t line_no = 0;
  while (pos < content.size()) {
    size_t nl = content.find('\n', pos);
    std::string_view line = std::string_view(content).substr(
        pos, nl == std::string::npos ? std::string::npos : nl - pos);
    pos = nl == std::string::npos ? content.size() : nl + 1;
    ++line_no;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    rapidjson::Document d;
    d.Parse<rapidjson::kParseFullPrecisionFlag>(line.data(), line.size());  // exact, as written
    const std::string at = str_cat(where, path, ":", line_no, ": ");
    KILN_CHECK(!d.HasParseError() && d.IsObject(), at, "expected {\"chosen\": number, ",
               "\"rejected\": number}");
    for (const char* k : {"chosen", "rejected"}) {
      auto it = d.FindMember(k);
      KILN_CHECK(it != d.MemberEnd() && it->value.IsNumber(), at, "no number \"", k, "\"");
      out.push_back(it->value.GetDouble());
    }
  }
  return out;
}

}  // namespace kiln::data
