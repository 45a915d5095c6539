// The progress line of a long tokenisation, on stderr. Nothing is printed for work that ends
// within `delay` seconds; after that, on a terminal one line is rewritten in place (at most
// every 0.2 s), and elsewhere (a log file, a pipe) one line is printed per `interval` seconds.
// finish() prints the final figures when anything was printed.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <optional>
#include <string>

namespace kiln::datasets {

struct ProgressOptions {
  bool enabled = true;
  double delay = 2.0;      ///< seconds before the first line
  double interval = 10.0;  ///< seconds between lines when not on a terminal
  std::FILE* out = stderr;
  /// Seconds from an arbitrary origin (tests pass a fake clock); default: steady_clock.
  std::function<double()> clock;
  /// Whether `out` is a terminal; default: isatty.
  std::optional<bool> terminal;
};

class Progress {
 public:
  Progress(std::string label, int64_t total_bytes, ProgressOptions options = {});
  /// Bytes of text done so far and the tokens they made.
  void update(int64_t done_bytes, int64_t tokens);
  void finish();
  ~Progress();

 private:
  std::string label_;
  int64_t total_;
  ProgressOptions opt_;
  bool terminal_ = false, printed_ = false, finished_ = false;
  double start_ = 0, last_ = 0;
  int64_t done_ = 0, tokens_ = 0;
  double now() const;
  void print(bool final);
};

/// "tokenizing data/input.txt: 45.0% of 27.1 MB, 3.1 MB/s, 1,234,567 tokens, 5 s left".
std::string format_progress(const std::string& label, int64_t done_bytes, int64_t total_bytes,
                            int64_t tokens, double elapsed_s, bool final);

}  // namespace kiln::datasets
