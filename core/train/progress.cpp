#include "core/train/progress.h"

#include <unistd.h>

#include <cmath>

namespace kiln::train {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

}  // namespace

std::string format_duration(double s) {
  if (!(s >= 0) || !std::isfinite(s)) return "?";
  const long long t = static_cast<long long>(std::llround(s));
  char buf[32];
  if (t >= 3600)
    std::snprintf(buf, sizeof buf, "%lldh%02lldm", t / 3600, (t / 60) % 60);
  else if (t >= 60)
    std::snprintf(buf, sizeof buf, "%lldm%02llds", t / 60, t % 60);
  else
    std::snprintf(buf, sizeof buf, "%llds", t);
  return buf;
}

std::string format_count(double n) {
  if (!std::isfinite(n)) return "?";
  if (n >= 1e9) return fmt("%.2fG", n / 1e9);
  if (n >= 1e6) return fmt("%.2fM", n / 1e6);
  if (n >= 1e3) return fmt("%.1fk", n / 1e3);
  return fmt("%.0f", n);
}

std::string format_progress(const ProgressInfo& p) {
  const int width = int(std::to_string(p.total).size());
  char head[64];
  std::snprintf(head, sizeof head, "step %*lld/%lld", width, static_cast<long long>(p.step),
                static_cast<long long>(p.total));
  std::string s = head;
  s += " | loss " + fmt("%.4f", p.loss);
  s += " | lr " + fmt("%.2e", p.lr);
  s += " | gnorm " + fmt("%.3g", p.grad_norm);
  s += " | " + format_count(p.tokens_per_s) + " tok/s";
  if (p.mfu >= 0) s += " | MFU " + fmt("%.1f%%", 100 * p.mfu);
  if (p.eta_s >= 0) s += " | ETA " + format_duration(p.eta_s);
  return s;
}

ProgressLine::ProgressLine(std::FILE* out) : ProgressLine(out, ::isatty(::fileno(out)) == 1) {}

ProgressLine::ProgressLine(std::FILE* out, bool interactive)
    : out_(out), interactive_(interactive) {}

ProgressLine::~ProgressLine() {
  finish();
}

void ProgressLine::update(const std::string& text, bool log_point) {
  if (!interactive_) {
    if (log_point) {
      std::fprintf(out_, "%s\n", text.c_str());
      std::fflush(out_);
    }
    return;
  }
  last_ = text;
  const auto now = std::chrono::steady_clock::now();
  if (!log_point && shown_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  // \r back to the start, the text, then clear what a longer previous line left.
  std::fprintf(out_, "\r%s\033[K", text.c_str());
  std::fflush(out_);
  shown_ = true;
}

void ProgressLine::print(const std::string& line) {
  if (interactive_ && shown_) {
    std::fprintf(out_, "\r\033[K%s\n", line.c_str());
    std::fprintf(out_, "%s\033[K", last_.c_str());  // the progress line again, below
  } else {
    std::fprintf(out_, "%s\n", line.c_str());
  }
  std::fflush(out_);
}

void ProgressLine::finish() {
  if (interactive_ && shown_) {
    std::fprintf(out_, "\n");
    std::fflush(out_);
  }
  shown_ = false;
}

}  // namespace kiln::train
