// bench_core: throughput of the core ops against the library or libc call they wrap.
//
//   gemm         GFLOP/s (2MNK / time) of kiln::ops::matmul and of oneDNN called directly on
//                the same buffers (a primitive created once, executed repeatedly)
//   attention    ms of a causal forward + backward, fused (tiled) against the unfused composition
//                of ops, and the peak memory of each
//   elementwise  GB/s (bytes read + written / time) of ops::add, mul by a scalar and gelu on
//                64 MiB f32 tensors, beside memcpy of the same bytes
//
// Each section is one function returning its JSON array; main() prints the figures and, with
// --json, one JSON object {"gemm": [...], "attention": [...], "elementwise": [...]} as the last
// line. Each figure is from the fastest of many calls, alternating with the call it is compared
// with, after warm-up (the machine may be shared). Nothing here fails on time.
//
// Usage: bench_core [--json] [--threads N] [--quick] [--only SECTION]
#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/kiln.h"
#include "core/train/gemm_ceiling.h"
#include "kernels/cpu/gemm.h"

namespace {

using namespace kiln;

struct Options {
  int threads = 2;
  bool json = false;
  bool quick = false;  // shorter timings, for checking that the program runs
  std::string only;
};

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// The fastest single call of each function. Calls alternate between the functions (the order
// flipping each pass) after one warm-up call each, until `budget` seconds have passed and each
// has run at least min_calls times: on a shared machine, load hits all of them alike, and the
// fastest call is the one that ran undisturbed.
std::vector<double> best_call(const std::vector<std::function<void()>>& fs, double budget,
                              int min_calls) {
  for (const auto& f : fs) f();
  std::vector<double> best(fs.size(), 1e300);
  const auto t0 = std::chrono::steady_clock::now();
  for (int pass = 0; pass < min_calls || seconds_since(t0) < budget; ++pass)
    for (size_t j = 0; j < fs.size(); ++j) {
      const size_t i = pass % 2 ? fs.size() - 1 - j : j;
      const auto t = std::chrono::steady_clock::now();
      fs[i]();
      best[i] = std::min(best[i], seconds_since(t));
    }
  return best;
}

double mib(size_t bytes) {
  return double(bytes) / double(1 << 20);
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), f, v);
  return buf;
}

// ---- gemm -----------------------------------------------------------------------------------

// oneDNN used the way its documentation shows: row-major memory objects bound once to the
// caller's buffers, one primitive, executed repeatedly.
struct DirectGemm {
  dnnl::engine eng{dnnl::engine::kind::cpu, 0};
  dnnl::stream strm{eng};
  dnnl::matmul prim;
  std::unordered_map<int, dnnl::memory> args;

  // Returns false when oneDNN cannot make the primitive for this data type on this CPU.
  bool init(int64_t M, int64_t K, int64_t N, dnnl::memory::data_type dt, void* a, void* b,
            void* c) {
    using dims = dnnl::memory::dims;
    using tag = dnnl::memory::format_tag;
    dnnl::memory::desc ad(dims{M, K}, dt, tag::ab), bd(dims{K, N}, dt, tag::ab),
        cd(dims{M, N}, dt, tag::ab);
    try {
      dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(ad, bd, cd), eng);
      prim = dnnl::matmul(pd);
    } catch (const dnnl::error&) {
      return false;
    }
    args = {{DNNL_ARG_SRC, dnnl::memory(ad, eng, a)},
            {DNNL_ARG_WEIGHTS, dnnl::memory(bd, eng, b)},
            {DNNL_ARG_DST, dnnl::memory(cd, eng, c)}};
    return true;
  }
  void run() {
    prim.execute(strm, args);
    strm.wait();
  }
};

// What a user does without native bf16: widen to f32, multiply, round back (to nearest even,
// as kiln's bf16 does), with the conversions threaded and vectorisable.
void bf16_to_f32(float* d, const bf16* s, int64_t n, int threads) {
  const uint16_t* b = reinterpret_cast<const uint16_t*>(s);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) d[i] = bits_float(uint32_t(b[i]) << 16);
}
void f32_to_bf16(bf16* d, const float* s, int64_t n, int threads) {
  uint16_t* o = reinterpret_cast<uint16_t*>(d);
#pragma omp parallel for num_threads(threads) schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = float_bits(s[i]);
    uint32_t r = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    o[i] = uint16_t((u & 0x7fffffffu) > 0x7f800000u ? (u >> 16) | 0x40u : r);
  }
}

std::string bench_gemm(const Options& opt) {
  struct Shape3 {
    int64_t m, k, n;
  };
  const Shape3 shapes[] = {
      {768, 768, 2304}, {768, 768, 3072}, {768, 3072, 768}, {4096, 4096, 4096}, {768, 128, 384}};
  const char* note = "no native bf16 on this CPU; direct = convert + f32 GEMM";
  std::printf(
      "\ngemm: kiln::ops::matmul vs oneDNN matmul called directly (GFLOP/s = 2MNK/time), %d "
      "threads\n",
      opt.threads);
  std::printf("  %5s %5s %5s  %-5s  %10s  %10s  %6s  %12s\n", "M", "K", "N", "dtype", "kiln",
              "direct", "ratio", "kiln peak");
  std::string json = "[";
  bool any_note = false;
  double best_f32 = 0;  // the fastest f32 rate of kiln's matmul: the MFU ceiling
  for (const Shape3& s : shapes) {
    const bool huge = s.m * s.n * s.k > (int64_t(1) << 32);
    const double budget = opt.quick ? 0.05 : huge ? 0.0 : 1.5;
    const int min_calls = huge && !opt.quick ? 2 : 1;
    for (DType dt : {DType::f32, DType::bf16}) {
      Tensor a = randn({s.m, s.k}, DType::f32).to(dt), b = randn({s.k, s.n}, DType::f32).to(dt);
      Tensor c_direct = empty({s.m, s.n}, dt);
      DirectGemm direct;
      std::function<void()> run_direct;
      bool direct_native = true;
      Tensor a32, b32, c32;  // the conversion buffers of the non-native direct path
      if (dt == DType::f32) {
        direct.init(s.m, s.k, s.n, dnnl::memory::data_type::f32, a.data_ptr(), b.data_ptr(),
                    c_direct.data_ptr());
        run_direct = [&] { direct.run(); };
      } else if (direct.init(s.m, s.k, s.n, dnnl::memory::data_type::bf16, a.data_ptr(),
                             b.data_ptr(), c_direct.data_ptr())) {
        run_direct = [&] { direct.run(); };
      } else {
        direct_native = false;
        a32 = empty({s.m, s.k}), b32 = empty({s.k, s.n}), c32 = empty({s.m, s.n});
        direct.init(s.m, s.k, s.n, dnnl::memory::data_type::f32, a32.data_ptr(), b32.data_ptr(),
                    c32.data_ptr());
        const int t = opt.threads;
        run_direct = [&, t] {
          bf16_to_f32(a32.data<float>(), a.data<bf16>(), a.numel(), t);
          bf16_to_f32(b32.data<float>(), b.data<bf16>(), b.numel(), t);
          direct.run();
          f32_to_bf16(c_direct.data<bf16>(), c32.data<float>(), c32.numel(), t);
        };
      }
      Tensor c_kiln;
      auto run_kiln = [&] { c_kiln = ops::matmul(a, b); };
      run_kiln();
      reset_peak_memory();
      const size_t base = memory_stats().in_use;
      std::vector<double> t = best_call({run_kiln, run_direct}, budget, min_calls);
      const size_t peak = memory_stats().peak - base;
      const double flop = 2.0 * double(s.m) * double(s.n) * double(s.k);
      const double gk = flop / t[0] / 1e9, gd = flop / t[1] / 1e9;
      std::printf("  %5lld %5lld %5lld  %-5s  %10.1f  %10.1f  %6.3f  %8.1f MiB%s\n", (long long)s.m,
                  (long long)s.k, (long long)s.n, dtype_name(dt), gk, gd, gk / gd, mib(peak),
                  direct_native ? "" : "  *");
      any_note |= !direct_native;
      if (dt == DType::f32) best_f32 = std::max(best_f32, gk);
      if (json.size() > 1) json += ", ";
      json += "{\"m\": " + std::to_string(s.m) + ", \"k\": " + std::to_string(s.k) +
              ", \"n\": " + std::to_string(s.n) + ", \"dtype\": \"" + dtype_name(dt) +
              "\", \"threads\": " + std::to_string(opt.threads) +
              ", \"kiln_gflops\": " + fmt("%.2f", gk) + ", \"direct_gflops\": " + fmt("%.2f", gd);
      if (!direct_native) json += std::string(", \"direct_note\": \"") + note + "\"";
      json += "}";
    }
  }
  if (any_note) std::printf("  * %s\n", note);
  std::printf(
      "  kiln peak: memory kiln's allocator took during the timed calls beyond what it held before "
      "(a call's output, conversion buffers)\n");
  // The MFU ceiling of the trainer and bench_train (core/train/gemm_ceiling.h) keeps the highest
  // rate recorded for this CPU and thread count.
  if (!opt.quick) {
    const double ceiling = train::record_gemm_ceiling(best_f32 * 1e9);
    std::printf(
        "  GEMM ceiling (the fastest f32 rate recorded on this machine, %d threads): %.1f "
        "GFLOP/s\n",
        opt.threads, ceiling / 1e9);
  }
  return json + "]";
}

// ---- elementwise ----------------------------------------------------------------------------

std::string bench_elementwise(const Options& opt) {
  const int64_t n = int64_t(64) << 20 >> 2;  // 64 MiB of f32
  const size_t bytes = size_t(n) * 4;
  Tensor x = randn({n}), y = randn({n});
  std::vector<char> src(bytes, 1), dst(bytes, 0);
  const int threads = opt.threads;
  auto run_memcpy = [&] {
  // Threaded like the ops, one contiguous chunk a thread.
#pragma omp parallel num_threads(threads)
    {
      const int t = omp_get_thread_num(), nt = omp_get_num_threads();
      const size_t b = bytes * size_t(t) / size_t(nt), e = bytes * size_t(t + 1) / size_t(nt);
      std::memcpy(dst.data() + b, src.data() + b, e - b);
    }
  };
  const double budget = opt.quick ? 0.05 : 1.5;
  struct Row {
    const char* op;
    size_t moved;  // bytes read + written by one call
    std::function<void()> f;
  };
  Tensor out;
  const Row rows[] = {{"add", 3 * bytes, [&] { out = ops::add(x, y); }},
                      {"mul_scalar", 2 * bytes, [&] { out = ops::mul(x, 1.5); }},
                      {"gelu", 2 * bytes, [&] { out = ops::gelu(x); }}};
  std::printf(
      "\nelementwise: f32, 64 MiB operands, GB/s = bytes read + written / time, %d threads\n",
      threads);
  std::printf("  %-11s %10s  %12s  %12s\n", "op", "kiln", "memcpy", "kiln peak");
  std::string json = "[";
  for (const Row& r : rows) {
    r.f();
    out = Tensor();
    reset_peak_memory();
    const size_t base = memory_stats().in_use;
    std::vector<double> t = best_call({r.f, run_memcpy}, budget, 3);
    const size_t peak = memory_stats().peak - base;
    const double g = double(r.moved) / t[0] / 1e9, gm = double(2 * bytes) / t[1] / 1e9;
    std::printf("  %-11s %10.2f  %12.2f  %8.1f MiB\n", r.op, g, gm, mib(peak));
    if (json.size() > 1) json += ", ";
    json += std::string("{\"op\": \"") + r.op + "\", \"gbps\": " + fmt("%.2f", g) +
            ", \"memcpy_gbps\": " + fmt("%.2f", gm) + "}";
  }
  std::printf("  memcpy: %s MiB copied by %d threads, counted as read + written\n",
              fmt("%.0f", mib(bytes)).c_str(), threads);
  return json + "]";
}

// ---- attention ------------------------------------------------------------------------------

// Forward + backward of causal attention (B = 1, 12 heads, head dim 64), fused against the
// unfused composition of ops, with the memory each takes beyond its inputs.
std::string bench_attention(const Options& opt) {
  const int64_t heads = 12, head_dim = 64;
  std::vector<int64_t> lengths = {256, 1024, 4096};
  if (opt.quick) lengths = {256, 1024};
  std::printf("\nattention: causal, B=1, %lld heads, head dim %lld, f32, forward + backward, %d threads\n",
              (long long)heads, (long long)head_dim, opt.threads);
  std::printf("  %6s %12s %12s %14s %14s\n", "T", "fused ms", "unfused ms", "fused peak", "unfused peak");
  std::string json = "[";
  for (int64_t t : lengths) {
    Generator gen(1);
    Tensor q = randn({1, heads, t, head_dim}, DType::f32, &gen).requires_grad_();
    Tensor k = randn({1, heads, t, head_dim}, DType::f32, &gen).requires_grad_();
    Tensor v = randn({1, heads, t, head_dim}, DType::f32, &gen).requires_grad_();
    Tensor dout = randn({1, heads, t, head_dim}, DType::f32, &gen);
    ops::AttentionOptions ao;
    ao.causal = true;
    auto step = [&](bool fused) {
      return [&, fused] {
        Tensor o = fused ? ops::scaled_dot_product_attention(q, k, v, ao) : ops::attention_reference(q, k, v, ao);
        o.backward(dout);
        q.set_grad(Tensor());
        k.set_grad(Tensor());
        v.set_grad(Tensor());
      };
    };
    // Peak memory of one call each, measured apart so neither counts the other's.
    size_t peak[2];
    for (int f = 0; f < 2; ++f) {
      reset_peak_memory();
      const size_t base = memory_stats().in_use;
      step(f == 0)();
      peak[f] = memory_stats().peak - base;
    }
    const double budget = opt.quick ? 0.05 : (t >= 4096 ? 0.5 : 1.5);
    std::vector<double> sec = best_call({step(true), step(false)}, budget, t >= 4096 ? 1 : 3);
    std::printf("  %6lld %12.1f %12.1f %10.1f MiB %10.1f MiB\n", (long long)t, sec[0] * 1e3, sec[1] * 1e3,
                mib(peak[0]), mib(peak[1]));
    if (json.size() > 1) json += ", ";
    json += "{\"t\": " + std::to_string(t) + ", \"heads\": " + std::to_string(heads) +
            ", \"head_dim\": " + std::to_string(head_dim) + ", \"fused_ms\": " + fmt("%.2f", sec[0] * 1e3) +
            ", \"unfused_ms\": " + fmt("%.2f", sec[1] * 1e3) + ", \"fused_peak_bytes\": " +
            std::to_string(peak[0]) + ", \"unfused_peak_bytes\": " + std::to_string(peak[1]) + "}";
  }
  std::printf("  peak: memory kiln's allocator took during one forward + backward beyond the inputs\n");
  return json + "]";
}

// ---- main -----------------------------------------------------------------------------------

struct Section {
  const char* name;
  std::string (*run)(const Options&);
};

// The JSON object lists the sections in this order.
const Section kSections[] = {
    {"gemm", &bench_gemm}, {"attention", &bench_attention}, {"elementwise", &bench_elementwise}};

int usage(const char* argv0) {
  std::fprintf(stderr, "usage: %s [--json] [--threads N] [--quick] [--only gemm|attention|elementwise]\n",
               argv0);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--json")
      opt.json = true;
    else if (a == "--quick")
      opt.quick = true;
    else if (a == "--threads" && i + 1 < argc)
      opt.threads = std::atoi(argv[++i]);
    else if (a == "--only" && i + 1 < argc)
      opt.only = argv[++i];
    else
      return usage(argv[0]);
  }
  if (opt.threads < 1) return usage(argv[0]);
  try {
    set_num_threads(opt.threads);  // kiln's loops and oneDNN (the same OpenMP runtime)
    std::printf("bench_core: %d threads, oneDNN %d.%d.%d, native bf16 GEMM: %s\n", opt.threads,
                dnnl_version()->major, dnnl_version()->minor, dnnl_version()->patch,
                cpu::gemm_native(DType::bf16) ? "yes" : "no");
    std::string json = "{";
    for (const Section& s : kSections) {
      const bool skip = !opt.only.empty() && opt.only != s.name;
      if (json.size() > 1) json += ", ";
      json += std::string("\"") + s.name + "\": " + (skip ? std::string("[]") : s.run(opt));
    }
    json += "}";
    if (opt.json) std::printf("%s\n", json.c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_core: %s\n", e.what());
    return 1;
  }
  return 0;
}
