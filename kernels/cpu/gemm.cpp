// GEMM over oneDNN 2.x (matmul::desc -> matmul::primitive_desc -> matmul), with a primitive
// cache, the bf16/f16 fallback through f32, and the plain f64 kernel. See gemm.h.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>
#include <vector>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/tensor/half.h"
#include "kernels/cpu/gemm_tile.h"

namespace kiln::cpu {
namespace {

// ---- scratch memory -------------------------------------------------------------------------

void* default_alloc(size_t n) {
  n = std::max<size_t>(64, (n + 63) / 64 * 64);
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return p;
}
void default_free(void* p, size_t) {
  std::free(p);
}

std::atomic<GemmAllocFn> g_alloc{&default_alloc};
std::atomic<GemmFreeFn> g_free{&default_free};

class Buffer {
 public:
  explicit Buffer(size_t nbytes) : n_(nbytes), p_(nbytes ? g_alloc.load()(nbytes) : nullptr) {}
  ~Buffer() {
    if (p_) g_free.load()(p_, n_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p_);
  }

 private:
  size_t n_;
  void* p_;
};

size_t elem_size(DType t) {
  switch (t) {
    case DType::f64:
      return 8;
    case DType::f32:
      return 4;
    case DType::bf16:
    case DType::f16:
      return 2;
    default:
      throw std::invalid_argument("kiln::cpu::gemm: dtype must be f64, f32, bf16 or f16");
  }
}

// ---- layouts --------------------------------------------------------------------------------

// A size-1 dim may carry any stride (views leave odd ones there); pick the one that makes the
// matrix read as row-major (cs == 1) or column-major (rs == 1), as the other stride suggests.
void normalise(int64_t rows, int64_t cols, int64_t& rs, int64_t& cs) {
  if (rows == 1 && cols == 1) {
    rs = cs = 1;
  } else if (rows == 1) {
    rs = cs == 1 ? cols : 1;
  } else if (cols == 1) {
    cs = rs == 1 ? rows : 1;
  }
}

bool normalised_ok(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  return (cs == 1 && rs >= cols) || (rs == 1 && cs >= rows);
}

// ---- the oneDNN primitive cache -------------------------------------------------------------

dnnl::engine& engine() {
  static dnnl::engine e(dnnl::engine::kind::cpu, 0);
  return e;
}

// A CPU stream is cheap but not meant to be shared between threads: one per calling thread.
dnnl::stream& stream() {
  thread_local dnnl::stream s(engine());
  return s;
}

dnnl::memory::data_type dnnl_type(DType t) {
  switch (t) {
    case DType::f32:
      return dnnl::memory::data_type::f32;
    case DType::bf16:
      return dnnl::memory::data_type::bf16;
    case DType::f16:
      return dnnl::memory::data_type::f16;
    default:
      throw std::invalid_argument("kiln::cpu::gemm: no oneDNN type for this dtype");
  }
}

struct Key {
  static constexpr int kN = 16;
  int64_t v[kN];
  bool operator==(const Key& o) const { return std::memcmp(v, o.v, sizeof(v)) == 0; }
};

struct KeyHash {
  size_t operator()(const Key& k) const {
    uint64_t h = 1469598103934665603ull;  // FNV-1a over the words
    for (int64_t x : k.v) {
      h ^= uint64_t(x);
      h *= 1099511628211ull;
    }
    return size_t(h ^ (h >> 29));
  }
};

// The key of a (normalised, folded) product; batch strides of a batch of 1 do not matter.
Key make_key(const GemmArgs& g) {
  const bool batched = g.batch > 1;
  return Key{{int64_t(g.dtype), g.batch, g.m, g.n, g.k, batched ? g.a_bs : -1, g.a_rs, g.a_cs,
              batched ? g.b_bs : -1, g.b_rs, g.b_cs, batched ? g.c_bs : -1, g.c_rs,
              int64_t(g.threads), g.bias != nullptr, 0}};
}

struct Prim {
  bool ok = false;  // false: oneDNN has no (fast) implementation for this key
  uint64_t id = 0;  // unique for the life of the process
  dnnl::matmul prim;
  dnnl::memory::desc a_md, b_md, c_md, bias_md, scratch_md;
  size_t scratch = 0;
};

// A matrix operand's memory descriptor: 2-d without a batch, else 3-d with a broadcast
// operand as a batch of 1 (oneDNN broadcasts size-1 batch dims; a zero stride would send it
// to the slow reference implementation).
dnnl::memory::desc operand_md(DType t, int64_t batch, int64_t bs, int64_t rows, int64_t cols,
                              int64_t rs, int64_t cs) {
  using dims = dnnl::memory::dims;
  if (batch == 1) return dnnl::memory::desc(dims{rows, cols}, dnnl_type(t), dims{rs, cs});
  const int64_t extent = rs == 1 ? cs * cols : rs * rows;  // one matrix's span
  if (bs == 0) return dnnl::memory::desc(dims{1, rows, cols}, dnnl_type(t), dims{extent, rs, cs});
  return dnnl::memory::desc(dims{batch, rows, cols}, dnnl_type(t), dims{bs, rs, cs});
}

std::shared_ptr<const Prim> create_prim(const GemmArgs& g) {
  static std::atomic<uint64_t> next_id{1};
  auto p = std::make_shared<Prim>();
  p->id = next_id++;
  try {
    p->a_md = operand_md(g.dtype, g.batch, g.a_bs, g.m, g.k, g.a_rs, g.a_cs);
    p->b_md = operand_md(g.dtype, g.batch, g.b_bs, g.k, g.n, g.b_rs, g.b_cs);
    p->c_md = operand_md(g.dtype, g.batch, g.c_bs, g.m, g.n, g.c_rs, 1);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // concurrent calls stay independent
    dnnl::matmul::desc desc = [&] {
      if (!g.bias) return dnnl::matmul::desc(p->a_md, p->b_md, p->c_md);
      // One row, broadcast over the batch and M.
      p->bias_md = operand_md(g.dtype, g.batch, 0, 1, g.n, g.n, 1);
      return dnnl::matmul::desc(p->a_md, p->b_md, p->bias_md, p->c_md);
    }();
    dnnl::matmul::primitive_desc pd(desc, attr, engine());
    // The reference implementation is orders of magnitude slower than the f32 route for half
    // types; for f32 it is still correct, so keep it rather than fail.
    const std::string impl = pd.impl_info_str();
    if (g.dtype != DType::f32 && impl.rfind("ref", 0) == 0) return p;
    p->scratch_md = pd.scratchpad_desc();
    p->scratch = p->scratch_md.get_size();
    p->prim = dnnl::matmul(pd);
    p->ok = true;
  } catch (const dnnl::error&) {
    p->ok = false;
  }
  return p;
}

class PrimCache {
 public:
  std::shared_ptr<const Prim> get(const GemmArgs& g) {
    const Key key = make_key(g);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = map_.find(key);
    if (it != map_.end()) {
      ++hits_;
      return it->second;
    }
    // Created under the lock: a second thread asking for the same key waits rather than
    // building a duplicate, and creation is rare.
    auto p = create_prim(g);
    ++created_;
    map_.emplace(key, p);
    return p;
  }

  GemmStats stats() {
    std::lock_guard<std::mutex> lock(mu_);
    return GemmStats{created_, hits_, int64_t(map_.size())};
  }
  void clear() {
    std::lock_guard<std::mutex> lock(mu_);
    map_.clear();
  }

 private:
  std::mutex mu_;
  std::unordered_map<Key, std::shared_ptr<const Prim>, KeyHash> map_;
  int64_t created_ = 0, hits_ = 0;
};

PrimCache& cache() {
  static PrimCache* c = new PrimCache;  // never destroyed: gemm may run from other statics' dtors
  return *c;
}

// ---- KILN_GEMM_PROFILE=1: time per product shape, printed to stderr at exit -----------------

struct ProfileEntry {
  GemmArgs shape;
  int64_t calls = 0;
  double seconds = 0, cpu = 0;  // wall time, and CPU time of the calling thread
};

double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

class Profile {
 public:
  static Profile* get() {
    static Profile* p = [] {
      const char* e = std::getenv("KILN_GEMM_PROFILE");
      return e && *e && *e != '0' ? new Profile : nullptr;
    }();
    return p;
  }
  void add(const GemmArgs& g, double s, double cpu) {
    std::lock_guard<std::mutex> lock(mu_);
    ProfileEntry& e = map_[make_key(g)];
    e.shape = g;
    ++e.calls;
    e.seconds += s;
    e.cpu += cpu;
  }
  ~Profile() = default;
  static void print() {
    Profile* p = get();
    if (!p) return;
    std::vector<ProfileEntry> v;
    double total = 0, total_cpu = 0;
    for (const auto& [k, e] : p->map_) v.push_back(e), total += e.seconds, total_cpu += e.cpu;
    std::sort(v.begin(), v.end(),
              [](const ProfileEntry& a, const ProfileEntry& b) { return a.seconds > b.seconds; });
    std::fprintf(
        stderr, "kiln gemm profile: %.3f s wall (%.3f s CPU of the calling thread) in %zu shapes\n",
        total, total_cpu, v.size());
    std::fprintf(stderr, "  %9s %9s %8s %6s %6s %6s %5s %3s %3s %8s %8s\n", "seconds", "cpu s",
                 "calls", "batch", "M", "N", "K", "At", "Bt", "us/call", "GFLOP/s");
    for (const ProfileEntry& e : v) {
      const GemmArgs& g = e.shape;
      const double flop = 2.0 * double(g.batch * g.m) * double(g.n) * double(g.k) * double(e.calls);
      std::fprintf(stderr, "  %9.4f %9.4f %8lld %6lld %6lld %6lld %5lld %3s %3s %8.1f %8.1f\n",
                   e.seconds, e.cpu, (long long)e.calls, (long long)g.batch, (long long)g.m,
                   (long long)g.n, (long long)g.k, g.a_cs == 1 ? "" : "T", g.b_cs == 1 ? "" : "T",
                   e.seconds / double(e.calls) * 1e6, flop / e.seconds / 1e9);
    }
  }

 private:
  Profile() { std::atexit(&Profile::print); }
  std::mutex mu_;
  std::unordered_map<Key, ProfileEntry, KeyHash> map_;
};

// The memory objects of a primitive, made once per thread and re-pointed at each call's
// buffers: creating them costs more than a small product.
struct ExecMemory {
  dnnl::memory a, b, c, bias, scratch;
};

void run_prim(const Prim& p, const GemmArgs& g) {
  thread_local std::unordered_map<uint64_t, ExecMemory> mems;
  auto it = mems.find(p.id);
  if (it == mems.end()) {
    if (mems.size() >= 512) mems.clear();  // shapes come and go; keep this bounded
    dnnl::engine& e = engine();
    ExecMemory m{dnnl::memory(p.a_md, e, DNNL_MEMORY_NONE),
                 dnnl::memory(p.b_md, e, DNNL_MEMORY_NONE),
                 dnnl::memory(p.c_md, e, DNNL_MEMORY_NONE),
                 g.bias ? dnnl::memory(p.bias_md, e, DNNL_MEMORY_NONE) : dnnl::memory(),
                 p.scratch ? dnnl::memory(p.scratch_md, e, DNNL_MEMORY_NONE) : dnnl::memory()};
    it = mems.emplace(p.id, std::move(m)).first;
  }
  ExecMemory& m = it->second;
  m.a.set_data_handle(const_cast<void*>(g.a));
  m.b.set_data_handle(const_cast<void*>(g.b));
  m.c.set_data_handle(g.c);
  Buffer scratch(p.scratch);
  dnnl_exec_arg_t args[5] = {
      {DNNL_ARG_SRC, m.a.get()}, {DNNL_ARG_WEIGHTS, m.b.get()}, {DNNL_ARG_DST, m.c.get()}};
  int nargs = 3;
  if (g.bias) {
    m.bias.set_data_handle(const_cast<void*>(g.bias));
    args[nargs++] = {DNNL_ARG_BIAS, m.bias.get()};
  }
  if (p.scratch) {
    m.scratch.set_data_handle(scratch.as<void>());
    args[nargs++] = {DNNL_ARG_SCRATCHPAD, m.scratch.get()};
  }
  // The C call takes the arguments as an array; the C++ one would build a vector each time.
  dnnl::stream& s = stream();
  if (dnnl_primitive_execute(p.prim.get(), s.get(), nargs, args) != dnnl_success)
    throw std::runtime_error("kiln::cpu::gemm: oneDNN failed to execute a matmul");
  s.wait();
}

// ---- half types through f32 -----------------------------------------------------------------

void to_f32(float* d, const bf16* s, int64_t n) {
  const uint16_t* b = reinterpret_cast<const uint16_t*>(s);
  for (int64_t i = 0; i < n; ++i) d[i] = bits_float(uint32_t(b[i]) << 16);
}

// Round to nearest even as bf16::from_float, written without branches so that it vectorises.
void from_f32(bf16* d, const float* s, int64_t n) {
  uint16_t* o = reinterpret_cast<uint16_t*>(d);
  for (int64_t i = 0; i < n; ++i) {
    uint32_t u = float_bits(s[i]);
    uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16;
    uint32_t quiet = (u >> 16) | 0x40u;
    o[i] = uint16_t((u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded);
  }
}

void to_f32(float* d, const f16* s, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(d + i,
                     _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(s + i))));
#endif
  for (; i < n; ++i) d[i] = float(s[i]);
}

void from_f32(f16* d, const float* s, int64_t n) {
  int64_t i = 0;
#if defined(__F16C__)
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(
        reinterpret_cast<__m128i*>(d + i),
        _mm256_cvtps_ph(_mm256_loadu_ps(s + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
#endif
  for (; i < n; ++i) d[i] = f16(s[i]);
}

constexpr int64_t kParallelElems = 1 << 15;  // below this, threads cost more than they save

// A matrix operand converted to f32 in its own orientation (row- or column-major), packed:
// nb matrices of `lines` physical rows of `len` elements, source lines `ld` apart.
template <class T>
struct Packed {
  const T* src;
  int64_t nb, lines, len, sbs, ld;
  std::unique_ptr<Buffer> buf;
  int64_t bs, rs, cs;  // the packed f32 operand's strides

  Packed(const T* s, int64_t n, int64_t rows, int64_t cols, int64_t b_s, int64_t r_s, int64_t c_s)
      : src(s), nb(n), sbs(b_s) {
    const bool row_major = c_s == 1;
    lines = row_major ? rows : cols;
    len = row_major ? cols : rows;
    ld = row_major ? r_s : c_s;
    buf = std::make_unique<Buffer>(size_t(nb * lines * len) * sizeof(float));
    bs = nb == 1 ? 0 : lines * len;
    rs = row_major ? len : 1;
    cs = row_major ? 1 : len;
  }
  int64_t total_lines() const { return nb * lines; }
  void convert_line(int64_t i) const {
    const int64_t b = i / lines, r = i % lines;
    to_f32(buf->as<float>() + i * len, src + b * sbs + r * ld, len);
  }
};

template <class T>
void gemm_via_f32(const GemmArgs& g) {
  const int64_t nb_a = g.a_bs == 0 ? 1 : g.batch, nb_b = g.b_bs == 0 ? 1 : g.batch;
  Packed<T> a(static_cast<const T*>(g.a), nb_a, g.m, g.k, g.a_bs, g.a_rs, g.a_cs);
  Packed<T> b(static_cast<const T*>(g.b), nb_b, g.k, g.n, g.b_bs, g.b_rs, g.b_cs);
  // Both operands in one parallel loop: one fork/join fewer, which counts on a busy machine.
  const int64_t la = a.total_lines(), lb = b.total_lines();
  const bool par = la * a.len + lb * b.len > kParallelElems;
#pragma omp parallel for num_threads(g.threads) schedule(static) if (par)
  for (int64_t i = 0; i < la + lb; ++i) {
    if (i < la)
      a.convert_line(i);
    else
      b.convert_line(i - la);
  }
  Buffer c(size_t(g.batch * g.m * g.n) * sizeof(float));
  Buffer bias(g.bias ? size_t(g.n) * sizeof(float) : 0);
  if (g.bias) to_f32(bias.as<float>(), static_cast<const T*>(g.bias), g.n);
  GemmArgs f = g;
  f.bias = g.bias ? bias.as<float>() : nullptr;
  f.dtype = DType::f32;
  f.a = a.buf->template as<float>();
  f.a_bs = a.bs, f.a_rs = a.rs, f.a_cs = a.cs;
  f.b = b.buf->template as<float>();
  f.b_bs = b.bs, f.b_rs = b.rs, f.b_cs = b.cs;
  f.c = c.as<float>();
  f.c_bs = g.m * g.n, f.c_rs = g.n;
  gemm(f);
  const float* cf = c.as<float>();
  T* out = static_cast<T*>(g.c);
  const int64_t lines = g.batch * g.m;
#pragma omp parallel for num_threads(g.threads) schedule(static) if (lines * g.n > kParallelElems)
  for (int64_t i = 0; i < lines; ++i) {
    const int64_t bi = i / g.m, r = i % g.m;
    from_f32(out + bi * g.c_bs + r * g.c_rs, cf + i * g.n, g.n);
  }
}

// ---- f64: a plain blocked kernel ------------------------------------------------------------
//
// C[m, n] = sum_k A[m, k] B[k, n], the sum over k in increasing order for every element (so the
// result is the same for any thread count). Tasks are (batch, 16-row tile) pairs; within a
// task, blocks of 256 columns and 256 k's keep a B block in L2 while 16 rows of C reuse it, and
// the inner loop is a contiguous axpy over n (B is packed row-major first if it is not).
void gemm_f64(const GemmArgs& g) {
  constexpr int64_t kMB = 16, kNB = 256, kKB = 256;
  const double* A = static_cast<const double*>(g.a);
  const double* B = static_cast<const double*>(g.b);
  double* C = static_cast<double*>(g.c);
  const double* bias = static_cast<const double*>(g.bias);
  int64_t b_bs = g.b_bs, ldb = g.b_rs;
  std::unique_ptr<Buffer> packed;
  if (g.b_cs != 1) {
    const int64_t nb = g.b_bs == 0 ? 1 : g.batch;
    packed = std::make_unique<Buffer>(size_t(nb * g.k * g.n) * sizeof(double));
    double* p = packed->as<double>();
    for (int64_t bi = 0; bi < nb; ++bi)
      for (int64_t kk = 0; kk < g.k; ++kk)
        for (int64_t n = 0; n < g.n; ++n)
          p[(bi * g.k + kk) * g.n + n] = B[bi * g.b_bs + kk * g.b_rs + n * g.b_cs];
    B = p;
    b_bs = nb == 1 ? 0 : g.k * g.n;
    ldb = g.n;
  }
  const int64_t mtiles = (g.m + kMB - 1) / kMB, tasks = g.batch * mtiles;
  const bool parallel = g.batch * g.m * g.n * g.k > kParallelElems;
#pragma omp parallel for num_threads(g.threads) schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t bi = t / mtiles, m0 = (t % mtiles) * kMB, m1 = std::min(g.m, m0 + kMB);
    const double* Ab = A + bi * g.a_bs;
    const double* Bb = B + bi * b_bs;
    double* Cb = C + bi * g.c_bs;
    for (int64_t n0 = 0; n0 < g.n; n0 += kNB) {
      const int64_t n1 = std::min(g.n, n0 + kNB);
      for (int64_t m = m0; m < m1; ++m) {
        if (bias)
          std::copy(bias + n0, bias + n1, Cb + m * g.c_rs + n0);
        else
          std::fill(Cb + m * g.c_rs + n0, Cb + m * g.c_rs + n1, 0.0);
      }
      for (int64_t k0 = 0; k0 < g.k; k0 += kKB) {
        const int64_t k1 = std::min(g.k, k0 + kKB);
        for (int64_t m = m0; m < m1; ++m) {
          double* crow = Cb + m * g.c_rs;
          for (int64_t kk = k0; kk < k1; ++kk) {
            const double av = Ab[m * g.a_rs + kk * g.a_cs];
            const double* brow = Bb + kk * ldb;
            for (int64_t n = n0; n < n1; ++n) crow[n] += av * brow[n];
          }
        }
      }
    }
  }
}

// ---- batch-invariant f32: the register-tiled kernel -------------------------------------------
//
// C = bias, then one multiply-add chain over k in increasing order per element (as the f64
// kernel), through gemm_rows' 6 x 16 register tiles. B is packed row-major first unless it is
// already; tasks are blocks of 48 rows.
void gemm_invariant_f32(const GemmArgs& g) {
  constexpr int64_t kRows = 48;
  const float* A = static_cast<const float*>(g.a);
  const float* B = static_cast<const float*>(g.b);
  float* C = static_cast<float*>(g.c);
  const float* bias = static_cast<const float*>(g.bias);
  int64_t b_bs = g.b_bs, ldb = g.b_rs;
  std::unique_ptr<Buffer> packed;
  if (g.b_cs != 1) {
    const int64_t nb = g.b_bs == 0 ? 1 : g.batch;
    packed = std::make_unique<Buffer>(size_t(nb * g.k * g.n) * sizeof(float));
    float* p = packed->as<float>();
    const bool par = nb * g.k * g.n > kParallelElems;
#pragma omp parallel for num_threads(g.threads) schedule(static) if (par)
    for (int64_t bk = 0; bk < nb * g.k; ++bk) {
      const int64_t bi = bk / g.k, kk = bk % g.k;
      for (int64_t n = 0; n < g.n; ++n) p[bk * g.n + n] = B[bi * g.b_bs + kk * g.b_rs + n * g.b_cs];
    }
    B = p;
    b_bs = nb == 1 ? 0 : g.k * g.n;
    ldb = g.n;
  }
  const int64_t blocks = (g.m + kRows - 1) / kRows, tasks = g.batch * blocks;
  const bool parallel = g.batch * g.m * g.n * g.k > kParallelElems;
#pragma omp parallel for num_threads(g.threads) schedule(static) if (parallel)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t bi = t / blocks, m0 = (t % blocks) * kRows, m1 = std::min(g.m, m0 + kRows);
    const float* Ab = A + bi * g.a_bs;
    const float* Bb = B + bi * b_bs;
    float* Cb = C + bi * g.c_bs;
    for (int64_t m = m0; m < m1; ++m) {
      if (bias)
        std::copy(bias, bias + g.n, Cb + m * g.c_rs);
      else
        std::fill(Cb + m * g.c_rs, Cb + m * g.c_rs + g.n, 0.0f);
    }
    auto rows = [&]<int MR>(std::integral_constant<int, MR>, int64_t m) {
      gemm_rows<float, MR>(Cb + m * g.c_rs, g.c_rs, Ab + m * g.a_rs, g.a_rs, g.a_cs, Bb, ldb, g.n,
                           g.k);
    };
    int64_t m = m0;
    for (; m + 6 <= m1; m += 6) rows(std::integral_constant<int, 6>{}, m);
    if (m + 4 <= m1) rows(std::integral_constant<int, 4>{}, m), m += 4;
    if (m + 2 <= m1) rows(std::integral_constant<int, 2>{}, m), m += 2;
    if (m < m1) rows(std::integral_constant<int, 1>{}, m);
  }
}

// ---- native support -------------------------------------------------------------------------

std::atomic<bool> g_native_enabled{true};

bool detect_native(DType t) {
  GemmArgs g;
  g.dtype = t;
  g.m = g.n = g.k = 32;
  g.a_rs = g.b_rs = g.c_rs = 32;
  g.threads = 1;
  return create_prim(g)->ok;
}

}  // namespace

bool gemm_layout_ok(int64_t rows, int64_t cols, int64_t rs, int64_t cs) {
  if (rows == 0 || cols == 0) return true;
  normalise(rows, cols, rs, cs);
  return normalised_ok(rows, cols, rs, cs);
}

bool gemm_native(DType t) {
  switch (t) {
    case DType::f32:
      return true;
    case DType::bf16: {
      static const bool native = detect_native(DType::bf16);
      return native && g_native_enabled.load();
    }
    case DType::f16: {
      static const bool native = detect_native(DType::f16);
      return native && g_native_enabled.load();
    }
    default:
      return false;
  }
}

void gemm_set_native_enabled(bool on) {
  g_native_enabled.store(on);
}

GemmStats gemm_stats() {
  return cache().stats();
}
void gemm_clear_cache() {
  cache().clear();
}

void set_gemm_allocator(GemmAllocFn alloc, GemmFreeFn free) {
  g_alloc.store(alloc ? alloc : &default_alloc);
  g_free.store(free ? free : &default_free);
}

void gemm(const GemmArgs& in) {
  GemmArgs g = in;
  const size_t es = elem_size(g.dtype);
  if (g.batch <= 0 || g.m <= 0 || g.n <= 0) return;
  if (g.batch == 1) g.a_bs = g.b_bs = g.c_bs = 0;
  if (g.k == 0) {  // an empty sum: C = 0, or the bias
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t m = 0; m < g.m; ++m) {
        char* row = static_cast<char*>(g.c) + size_t(b * g.c_bs + m * g.c_rs) * es;
        if (g.bias)
          std::memcpy(row, g.bias, size_t(g.n) * es);
        else
          std::memset(row, 0, size_t(g.n) * es);
      }
    return;
  }
  normalise(g.m, g.k, g.a_rs, g.a_cs);
  normalise(g.k, g.n, g.b_rs, g.b_cs);
  if (g.m == 1) g.c_rs = g.n;
  if (!normalised_ok(g.m, g.k, g.a_rs, g.a_cs) || !normalised_ok(g.k, g.n, g.b_rs, g.b_cs) ||
      g.c_rs < g.n)
    throw std::invalid_argument(
        "kiln::cpu::gemm: an operand is not a BLAS layout (one unit stride, the other "
        "at least the extent it steps over)");
  if (g.threads < 1) g.threads = 1;
  if (omp_get_max_threads() != g.threads) omp_set_num_threads(g.threads);

  if (g.batch > 1 && g.a_bs == 0 && g.b_bs == 0) {
    // Every batch is the same product: compute one, copy it.
    GemmArgs one = g;
    one.batch = 1;
    gemm(one);
    char* c = static_cast<char*>(g.c);
    for (int64_t b = 1; b < g.batch; ++b)
      for (int64_t m = 0; m < g.m; ++m)
        std::memcpy(c + size_t(b * g.c_bs + m * g.c_rs) * es, c + size_t(m * g.c_rs) * es,
                    size_t(g.n) * es);
    return;
  }
  // Shared B, and A's and C's rows run on across the batch: one product with batch*M rows.
  if (g.batch > 1 && g.b_bs == 0 && g.a_cs == 1 && g.a_bs == g.m * g.a_rs &&
      g.c_bs == g.m * g.c_rs) {
    g.m *= g.batch;
    g.batch = 1;
    g.a_bs = g.b_bs = g.c_bs = 0;
  }

  if (g.batch_invariant && g.dtype != DType::f64) {
    if (g.dtype == DType::f32)
      gemm_invariant_f32(g);
    else if (g.dtype == DType::bf16)
      gemm_via_f32<bf16>(g);  // whose f32 product keeps the flag
    else
      gemm_via_f32<f16>(g);
    return;
  }
  switch (g.dtype) {
    case DType::f64:
      gemm_f64(g);
      return;
    case DType::f32: {
      Profile* prof = Profile::get();
      const auto t0 =
          prof ? std::chrono::steady_clock::now() : std::chrono::steady_clock::time_point();
      const double c0 = prof ? thread_cpu_seconds() : 0.0;
      auto p = cache().get(g);
      if (!p->ok)
        throw std::runtime_error(
            "kiln::cpu::gemm: oneDNN could not create an f32 matmul primitive");
      run_prim(*p, g);
      if (prof)
        prof->add(g, std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                  thread_cpu_seconds() - c0);
      return;
    }
    case DType::bf16:
    case DType::f16: {
      if (gemm_native(g.dtype)) {
        auto p = cache().get(g);
        if (p->ok) {
          run_prim(*p, g);
          return;
        }
      }
      if (g.dtype == DType::bf16)
        gemm_via_f32<bf16>(g);
      else
        gemm_via_f32<f16>(g);
      return;
    }
    default:
      throw std::invalid_argument("kiln::cpu::gemm: dtype must be f64, f32, bf16 or f16");
  }
}

}  // namespace kiln::cpu
