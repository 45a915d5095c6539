// The progress line evaluators show on a terminal: "\rNAME: done/total UNIT".
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>

namespace kiln::evaluators {

/// A progress callback for eval::LoglikelihoodOptions, or none when `on` is false or stderr is
/// not a terminal (logs and tests stay clean).
inline std::function<void(int64_t, int64_t)> terminal_progress(const std::string& name,
                                                               const std::string& unit, bool on) {
  if (!on || !::isatty(STDERR_FILENO)) return {};
  return [name, unit](int64_t done, int64_t total) {
    std::fprintf(stderr, "\r%s: %lld/%lld %s", name.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total), unit.c_str());
    if (done == total) std::fprintf(stderr, "\n");
    std::fflush(stderr);
  };
}

}  // namespace kiln::evaluators
