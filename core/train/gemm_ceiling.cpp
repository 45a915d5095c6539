#include "core/train/gemm_ceiling.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/ops/linalg.h"
#include "core/tensor/random.h"

namespace kiln::train {

namespace {

namespace fs = std::filesystem;

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      size_t c = line.find(':');
      return c == std::string::npos ? line : line.substr(c + 2);
    }
  return "unknown cpu";
}

fs::path cache_file() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x)
    return fs::path(x) / "kiln" / "gemm_ceiling";
  if (const char* h = std::getenv("HOME"); h && *h)
    return fs::path(h) / ".cache" / "kiln" / "gemm_ceiling";
  return {};
}

// Lines "key\tflops".
std::map<std::string, double> read_cache(const fs::path& f) {
  std::map<std::string, double> out;
  std::ifstream in(f);
  std::string line;
  while (std::getline(in, line)) {
    size_t tab = line.rfind('\t');
    if (tab == std::string::npos) continue;
    try {
      out[line.substr(0, tab)] = std::stod(line.substr(tab + 1));
    } catch (...) {
    }
  }
  return out;
}

void write_cache(const fs::path& f, const std::map<std::string, double>& entries) {
  std::error_code ec;
  fs::create_directories(f.parent_path(), ec);
  const fs::path tmp = f.string() + ".tmp" + std::to_string(::getpid());
  {
    std::ofstream out(tmp);
    if (!out) return;
    for (const auto& [k, v] : entries) out << k << '\t' << v << '\n';
  }
  fs::rename(tmp, f, ec);
  if (ec) fs::remove(tmp, ec);
}

// The cache file's key: "<cpu model>|<threads>".
std::string cache_key(int threads) {
  return cpu_model() + "|" + std::to_string(threads);
}

std::mutex& mutex() {
  static std::mutex mu;
  return mu;
}

// The ceilings known to this process, by thread count.
std::map<int, double>& known() {
  static std::map<int, double> m;
  return m;
}

// Merges flops into the cache file (keeping the larger value) and the process; returns the
// merged value. Call with mutex() held.
double record_locked(int threads, double flops) {
  const std::string key = cache_key(threads);
  const fs::path f = cache_file();
  std::map<std::string, double> cache = f.empty() ? std::map<std::string, double>{} : read_cache(f);
  double best = flops;
  if (auto it = cache.find(key); it != cache.end() && it->second > best) best = it->second;
  if (auto it = known().find(threads); it != known().end() && it->second > best) best = it->second;
  known()[threads] = best;
  if (!f.empty() && best > 0 && (!cache.count(key) || cache[key] != best)) {
    cache[key] = best;
    write_cache(f, cache);
  }
  return best;
}

}  // namespace

double measure_gemm_flops(int64_t n, double seconds) {
  autograd::NoGrad no_grad;
  Generator gen(0);
  Tensor a = randn({n, n}, DType::f32, &gen), b = randn({n, n}, DType::f32, &gen);
  ops::matmul(a, b);  // warm-up: creates and caches the oneDNN primitive
  using Clock = std::chrono::steady_clock;
  double best = 1e30;
  const auto start = Clock::now();
  for (int i = 0; i < 3 || std::chrono::duration<double>(Clock::now() - start).count() < seconds;
       ++i) {
    const auto t0 = Clock::now();
    ops::matmul(a, b);
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return 2.0 * double(n) * double(n) * double(n) / best;
}

double record_gemm_ceiling(double flops) {
  std::lock_guard<std::mutex> lock(mutex());
  return record_locked(num_threads(), flops);
}

double gemm_ceiling_flops() {
  if (const char* o = std::getenv("KILN_GEMM_CEILING_GFLOPS"); o && *o) {
    try {
      double g = std::stod(o);
      if (g > 0) return g * 1e9;
    } catch (...) {
    }
  }
  const int threads = num_threads();
  std::lock_guard<std::mutex> lock(mutex());
  if (auto it = known().find(threads); it != known().end()) return it->second;
  const fs::path f = cache_file();
  if (!f.empty()) {
    const std::map<std::string, double> cache = read_cache(f);
    if (auto it = cache.find(cache_key(threads)); it != cache.end() && it->second > 0)
      return known()[threads] = it->second;
  }
  return record_locked(threads, measure_gemm_flops());
}

}  // namespace kiln::train
