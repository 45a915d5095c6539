// The GEMM ceiling's cache: it keeps the highest rate recorded, so a measurement taken on a busy
// machine (too low) is repaired by the next one, and never lowers a good one. Nothing is timed:
// the values recorded here are far above anything a measurement gives.
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "core/base/threads.h"
#include "core/train/gemm_ceiling.h"
#include "tests/train/train_test_util.h"

namespace kiln::testing {
namespace {

// Sets an environment variable for a scope and restores it.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) saved_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (saved_)
      ::setenv(name_, saved_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> saved_;
};

// "|<threads>\t", how a cache line's key ends.
std::string key_end(int threads) {
  std::string s = "|";
  s += std::to_string(threads);
  s += '\t';
  return s;
}

// The value the cache file holds for this process's thread count, or -1.
double cached_value(const std::string& file) {
  std::istringstream in(read_file(file));
  std::string line;
  const std::string suffix = key_end(num_threads());
  while (std::getline(in, line))
    if (size_t p = line.find(suffix); p != std::string::npos)
      return std::stod(line.substr(p + suffix.size()));
  return -1;
}

TEST(GemmCeiling, KeepsTheHighestRecordedRate) {
  TempDir dir;
  ScopedEnv cache("XDG_CACHE_HOME", dir.path().string());
  const std::string file = dir / "kiln/gemm_ceiling";

  EXPECT_DOUBLE_EQ(train::record_gemm_ceiling(2e15), 2e15);
  EXPECT_DOUBLE_EQ(cached_value(file), 2e15);
  // A lower measurement (a busy machine) does not lower it.
  EXPECT_DOUBLE_EQ(train::record_gemm_ceiling(1e15), 2e15);
  EXPECT_DOUBLE_EQ(cached_value(file), 2e15);
  EXPECT_DOUBLE_EQ(train::gemm_ceiling_flops(), 2e15);

  // A higher value in the file (another process recorded it) wins over this process's.
  const std::string text = read_file(file);
  write_file(file, text.substr(0, text.rfind('\t') + 1) + "3e+15\n");
  EXPECT_DOUBLE_EQ(train::record_gemm_ceiling(1e15), 3e15);
  EXPECT_DOUBLE_EQ(train::gemm_ceiling_flops(), 3e15);
  // Only this thread count's line was written.
  EXPECT_EQ(read_file(file).find(key_end(num_threads() + 1)), std::string::npos);
}

TEST(GemmCeiling, EnvironmentOverrides) {
  ScopedEnv over("KILN_GEMM_CEILING_GFLOPS", "123.5");
  EXPECT_DOUBLE_EQ(train::gemm_ceiling_flops(), 123.5e9);
}

}  // namespace
}  // namespace kiln::testing
