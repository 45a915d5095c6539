#include "plugins/datasets/progress.h"

#include <unistd.h>

#include <chrono>
#include <cmath>

#include "core/base/error.h"

namespace kiln::datasets {
namespace {

std::string with_commas(int64_t v) {
  std::string s = std::to_string(v < 0 ? -v : v), out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && (s.size() - i) % 3 == 0) out += ',';
    out += s[i];
  }
  return v < 0 ? "-" + out : out;
}

std::string megabytes(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MB", bytes / 1e6);
  return buf;
}

std::string duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.0f s", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(s / 60) % 60);
  return buf;
}

}  // namespace

std::string format_progress(const std::string& label, int64_t done_bytes, int64_t total_bytes,
                            int64_t tokens, double elapsed_s, bool final) {
  double rate = elapsed_s > 0 ? double(done_bytes) / elapsed_s : 0.0;
  char pct[16];
  std::snprintf(pct, sizeof pct, "%.1f%%",
                total_bytes > 0 ? 100.0 * double(done_bytes) / double(total_bytes) : 100.0);
  std::string line = "tokenizing " + label + ": ";
  if (final) {
    line += megabytes(double(done_bytes)) + " in " + duration(elapsed_s);
  } else {
    line += std::string(pct) + " of " + megabytes(double(total_bytes));
  }
  line += ", " + megabytes(rate) + "/s, " + with_commas(tokens) + " tokens";
  if (!final && rate > 0)
    line += ", " + duration(double(total_bytes - done_bytes) / rate) + " left";
  return line;
}

Progress::Progress(std::string label, int64_t total_bytes, ProgressOptions options)
    : label_(std::move(label)), total_(total_bytes), opt_(std::move(options)) {
  terminal_ = opt_.terminal ? *opt_.terminal : ::isatty(::fileno(opt_.out)) == 1;
  start_ = last_ = now();
}

Progress::~Progress() {
  try {
    finish();
  } catch (...) {
  }
}

double Progress::now() const {
  if (opt_.clock) return opt_.clock();
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

void Progress::update(int64_t done_bytes, int64_t tokens) {
  done_ = done_bytes;
  tokens_ = tokens;
  if (!opt_.enabled || finished_) return;
  double t = now();
  if (t - start_ < opt_.delay) return;
  double every = terminal_ ? 0.2 : opt_.interval;
  if (printed_ && t - last_ < every) return;
  last_ = t;
  print(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (opt_.enabled && printed_) print(true);
}

void Progress::print(bool final) {
  std::string line = format_progress(label_, done_, total_, tokens_, now() - start_, final);
  if (terminal_)
    std::fprintf(opt_.out, "\r%s\033[K%s", line.c_str(), final ? "\n" : "");
  else
    std::fprintf(opt_.out, "%s\n", line.c_str());
  std::fflush(opt_.out);
  printed_ = true;
}

}  // namespace kiln::datasets
