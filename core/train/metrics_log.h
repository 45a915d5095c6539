// metrics.jsonl: one JSON object a line, appended and flushed as training goes, so that a plot
// or `tail -f` sees every logged value at once and a crash loses nothing already logged.
//
//   {"step": 10, "loss": 3.21, "lr": 0.001, "grad_norm": 1.9, "tokens_per_s": 10240, ...}
//   {"step": 250, "val_loss": 1.98, "val_ppl": 7.24}
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace kiln::train {

/// A value of a metrics line: a number (non-finite ones are written as null) or a string.
struct MetricValue {
  MetricValue(double v) : number(v) {}
  MetricValue(int64_t v) : number(double(v)), integer(true) {}
  MetricValue(int v) : number(double(v)), integer(true) {}
  MetricValue(std::string v) : text(std::move(v)), is_text(true) {}
  MetricValue(const char* v) : text(v), is_text(true) {}
  double number = 0;
  bool integer = false;
  std::string text;
  bool is_text = false;
};

using MetricLine = std::vector<std::pair<std::string, MetricValue>>;

/// One line of JSON for the values, in order ("{"step": 10, "loss": 3.21}").
std::string metrics_json(const MetricLine& values);

class MetricsLog {
 public:
  /// Opens `path` for appending. With keep_until_step >= 0, only the lines of steps 1 to
  /// keep_until_step are kept: a fresh run passes 0 (the file starts empty), a resumed run its
  /// checkpoint's step (it logs the later steps again). -1 keeps everything.
  MetricsLog(std::string path, int64_t keep_until_step);
  ~MetricsLog();
  MetricsLog(const MetricsLog&) = delete;
  MetricsLog& operator=(const MetricsLog&) = delete;

  /// Appends one line and flushes it.
  void write(const MetricLine& values);
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::FILE* file_ = nullptr;
};

}  // namespace kiln::train
