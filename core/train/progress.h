// The progress line of training: on a terminal one line redrawn in place, elsewhere (a log
// file, a pipe, CI) one line per log interval.
//
//   step  120/2000 | loss 2.4512 | lr 1.00e-03 | gnorm 0.85 | 12.3k tok/s | MFU 41.2% | ETA 3m12s
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace kiln::train {

struct ProgressInfo {
  int64_t step = 0, total = 0;
  double loss = 0, lr = 0, grad_norm = 0;
  double tokens_per_s = 0;
  double mfu = -1;    ///< fraction of the GEMM ceiling; < 0 when unknown
  double eta_s = -1;  ///< < 0 when unknown
};

/// "step  120/2000 | loss 2.4512 | ..." (the fields of ProgressInfo).
std::string format_progress(const ProgressInfo& p);
/// "3m12s", "1h04m", "42s".
std::string format_duration(double seconds);
/// "812", "12.3k", "4.56M".
std::string format_count(double n);

class ProgressLine {
 public:
  /// interactive: redraw in place (the default when `out` is a terminal).
  explicit ProgressLine(std::FILE* out);
  ProgressLine(std::FILE* out, bool interactive);
  ~ProgressLine();

  bool interactive() const { return interactive_; }
  /// A step's line. On a terminal it replaces the current line (at most ~10 redraws a second,
  /// and always when log_point); otherwise it is printed only when log_point.
  void update(const std::string& text, bool log_point);
  /// A line of its own (evaluations, checkpoints, messages), above the progress line.
  void print(const std::string& line);
  /// Ends the in-place line (a newline after it), if one is shown.
  void finish();

 private:
  std::FILE* out_;
  bool interactive_;
  bool shown_ = false;  // an in-place line is on screen
  std::string last_;
  std::chrono::steady_clock::time_point last_draw_{};
};

}  // namespace kiln::train
