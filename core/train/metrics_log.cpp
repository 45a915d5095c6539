#include "core/train/metrics_log.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/base/error.h"
#include "core/registry/config.h"

namespace kiln::train {

namespace {

void append_escaped(std::string& out, const std::string& s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

// The step of a metrics line, or -1 when it has none (or does not parse).
int64_t line_step(const std::string& line, const std::string& origin) {
  try {
    Config c = Config::from_json(line, origin);
    if (c.is_table() && c.has("step") && c.at("step").is_number()) return c.at("step").as_int();
  } catch (const Error&) {
  }
  return -1;
}

}  // namespace

std::string metrics_json(const MetricLine& values) {
  std::string out = "{";
  bool first = true;
  for (const auto& [key, v] : values) {
    if (!first) out += ", ";
    first = false;
    append_escaped(out, key);
    out += ": ";
    if (v.is_text) {
      append_escaped(out, v.text);
    } else if (!std::isfinite(v.number)) {
      out += "null";
    } else if (v.integer) {
      out += std::to_string(static_cast<long long>(v.number));
    } else {
      char buf[40];
      std::snprintf(buf, sizeof buf, "%.9g", v.number);
      out += buf;
    }
  }
  return out + "}";
}

MetricsLog::MetricsLog(std::string path, int64_t keep_until_step) : path_(std::move(path)) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (keep_until_step >= 0 && fs::exists(path_, ec)) {
    // Keep the lines of steps up to the checkpoint resumed from; write the rest anew.
    std::ifstream in(path_);
    std::string line, kept;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      const int64_t s = line_step(line, path_);
      if (s >= 1 && s <= keep_until_step) kept += line + "\n";
    }
    in.close();
    const std::string tmp = path_ + ".tmp";
    {
      std::ofstream out(tmp, std::ios::trunc);
      KILN_CHECK(out, "metrics log: cannot write ", tmp, ": ", std::strerror(errno));
      out << kept;
    }
    fs::rename(tmp, path_, ec);
    KILN_CHECK(!ec, "metrics log: cannot replace ", path_, ": ", ec.message());
  }
  file_ = std::fopen(path_.c_str(), "a");
  KILN_CHECK(file_, "metrics log: cannot open ", path_, " for appending: ", std::strerror(errno));
}

MetricsLog::~MetricsLog() {
  if (file_) std::fclose(file_);
}

void MetricsLog::write(const MetricLine& values) {
  const std::string line = metrics_json(values) + "\n";
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace kiln::train
