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

// Lines "key\tflops" where key is "<cpu model>|<threads>".
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

double measure() {
  autograd::NoGrad no_grad;
  constexpr int64_t n = 1024;
  Generator gen(0);
  Tensor a = randn({n, n}, DType::f32, &gen), b = randn({n, n}, DType::f32, &gen);
  ops::matmul(a, b);  // warm-up: creates and caches the oneDNN primitive
  double best = 1e30;
  for (int i = 0; i < 5; ++i) {
    auto t0 = std::chrono::steady_clock::now();
    ops::matmul(a, b);
    best = std::min(best,
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  return 2.0 * double(n) * double(n) * double(n) / best;
}

}  // namespace

double gemm_ceiling_flops() {
  static std::mutex mu;
  static std::map<int, double> measured;  // by thread count
  std::lock_guard<std::mutex> lock(mu);
  if (const char* o = std::getenv("KILN_GEMM_CEILING_GFLOPS"); o && *o) {
    try {
      double g = std::stod(o);
      if (g > 0) return g * 1e9;
    } catch (...) {
    }
  }
  const int threads = num_threads();
  if (auto it = measured.find(threads); it != measured.end()) return it->second;
  const std::string key = cpu_model() + "|" + std::to_string(threads);
  const fs::path f = cache_file();
  std::map<std::string, double> cache = f.empty() ? std::map<std::string, double>{} : read_cache(f);
  double flops;
  if (auto it = cache.find(key); it != cache.end() && it->second > 0) {
    flops = it->second;
  } else {
    flops = measure();
    if (!f.empty()) {
      cache[key] = flops;
      write_cache(f, cache);
    }
  }
  measured[threads] = flops;
  return flops;
}

}  // namespace kiln::train
