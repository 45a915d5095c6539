// bench_cuda: throughput of kiln's CUDA backend: matmul TFLOP/s (cuBLAS through kiln::ops),
// elementwise and softmax GB/s. Says so and exits 0 when no CUDA device is present.
//
// Usage: bench_cuda [--json]
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>

#include "core/kiln.h"

namespace {

using namespace kiln;

// Mean seconds of a call over `reps` calls after two warm-up calls; a device-to-host copy of
// one element waits for the queued kernels.
double time_call(const std::function<Tensor()>& f, int reps) {
  f().to(Device::cpu());
  f().to(Device::cpu());
  auto t0 = std::chrono::steady_clock::now();
  Tensor last;
  for (int i = 0; i < reps; ++i) last = f();
  last.flatten().narrow(0, 0, 1).to(Device::cpu());
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() / reps;
}

std::string fmt(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%.2f", v);
  return b;
}

}  // namespace

int main(int argc, char** argv) {
  bool json = argc > 1 && std::string(argv[1]) == "--json";
  if (!cuda_available()) {
    std::printf("bench_cuda: no CUDA device present (or built without KILN_CUDA); nothing measured\n");
    if (json) std::printf("{\"gemm\": [], \"elementwise\": []}\n");
    return 0;
  }
  try {
    const Device gpu = Device::cuda(0);
    std::string gj = "[", ej = "[";
    std::printf("gemm: kiln::ops::matmul on cuda:0 (cuBLAS), TFLOP/s = 2MNK / time\n");
    for (int64_t n : {1024, 4096, 8192}) {
      for (DType dt : {DType::f32, DType::bf16}) {
        Tensor a = randn({n, n}, DType::f32).to(dt).to(gpu), b = randn({n, n}, DType::f32).to(dt).to(gpu);
        double s = time_call([&] { return ops::matmul(a, b); }, n >= 8192 ? 10 : 30);
        double tf = 2.0 * double(n) * double(n) * double(n) / s / 1e12;
        std::printf("  %5lld^3 %-5s %8.1f TFLOP/s\n", (long long)n, dtype_name(dt), tf);
        gj += std::string(gj.size() > 1 ? ", " : "") + "{\"n\": " + std::to_string(n) + ", \"dtype\": \"" +
              dtype_name(dt) + "\", \"tflops\": " + fmt(tf) + "}";
      }
    }
    std::printf("elementwise: 256 MiB f32 operands, GB/s = bytes read + written / time\n");
    const int64_t n = int64_t(64) << 20;
    Tensor x = randn({n}).to(gpu), y = randn({n}).to(gpu);
    Tensor rows = randn({n / 4096, 4096}).to(gpu);
    struct Row {
      const char* op;
      double bytes;
      std::function<Tensor()> f;
    } table[] = {{"add", 12.0 * double(n), [&] { return ops::add(x, y); }},
                 {"gelu", 8.0 * double(n), [&] { return ops::gelu(x); }},
                 {"softmax", 8.0 * double(n), [&] { return ops::softmax(rows, -1); }},
                 {"sum", 4.0 * double(n), [&] { return ops::sum(rows, {1}); }}};
    for (const Row& r : table) {
      double s = time_call(r.f, 20);
      std::printf("  %-8s %8.0f GB/s\n", r.op, r.bytes / s / 1e9);
      ej += std::string(ej.size() > 1 ? ", " : "") + "{\"op\": \"" + r.op + "\", \"gbps\": " + fmt(r.bytes / s / 1e9) + "}";
    }
    if (json) std::printf("{\"gemm\": %s], \"elementwise\": %s]}\n", gj.c_str(), ej.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda: %s\n", e.what());
    return 1;
  }
  return 0;
}
