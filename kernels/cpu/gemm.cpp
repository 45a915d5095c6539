// GEMM over oneDNN 2.x (matmul::desc -> matmul::primitive_desc -> matmul), with a primitive
// cache, the bf16/f16 fallback through f32, and the plain f64 kernel. See gemm.h.
#include "kernels/cpu/gemm.h"

#include <omp.h>

#include <oneapi/dnnl/dnnl.hpp>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <unordered_map>

#if defined(__F16C__)
#include <immintrin.h>
#endif

#include "core/tensor/half.h"

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
              int64_t(g.threads), 0, 0}};
}

struct Prim {
  bool ok = false;  // false: oneDNN has no (fast) implementation for this key
  dnnl::matmul prim;
  dnnl::memory::desc a_md, b_md, c_md, scratch_md;
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
  auto p = std::make_shared<Prim>();
  try {
    p->a_md = operand_md(g.dtype, g.batch, g.a_bs, g.m, g.k, g.a_rs, g.a_cs);
    p->b_md = operand_md(g.dtype, g.batch, g.b_bs, g.k, g.n, g.b_rs, g.b_cs);
    p->c_md = operand_md(g.dtype, g.batch, g.c_bs, g.m, g.n, g.c_rs, 1);
    dnnl::primitive_attr attr;
    attr.set_scratchpad_mode(dnnl::scratchpad_mode::user);  // concurrent calls stay independent
    dnnl::matmul::primitive_desc pd(dnnl::matmul::desc(p->a_md, p->b_md, p->c_md), attr, engine());
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

void run_prim(const Prim& p, const GemmArgs& g) {
  dnnl::engine& e = engine();
  std::unordered_map<int, dnnl::memory> args;
  args.emplace(DNNL_ARG_SRC, dnnl::memory(p.a_md, e, const_cast<void*>(g.a)));
  args.emplace(DNNL_ARG_WEIGHTS, dnnl::memory(p.b_md, e, const_cast<void*>(g.b)));
  args.emplace(DNNL_ARG_DST, dnnl::memory(p.c_md, e, g.c));
  Buffer scratch(p.scratch);
  if (p.scratch)
    args.emplace(DNNL_ARG_SCRATCHPAD, dnnl::memory(p.scratch_md, e, scratch.as<void>()));
  dnnl::stream& s = stream();
  p.prim.execute(s, args);
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

// A matrix operand converted to f32 in its own orientation (row- or column-major), packed.
struct Packed {
  std::unique_ptr<Buffer> buf;
  int64_t bs = 0, rs = 0, cs = 0;
};

template <class T>
Packed pack_f32(const T* src, int64_t nb, int64_t rows, int64_t cols, int64_t bs, int64_t rs,
                int64_t cs, int threads) {
  const bool row_major = cs == 1;
  const int64_t prow = row_major ? rows : cols, pcol = row_major ? cols : rows,
                ld = row_major ? rs : cs;
  Packed p;
  p.buf = std::make_unique<Buffer>(size_t(nb * prow * pcol) * sizeof(float));
  float* dst = p.buf->as<float>();
  const int64_t lines = nb * prow;
#pragma omp parallel for num_threads(threads) schedule(static) if (lines * pcol > kParallelElems)
  for (int64_t i = 0; i < lines; ++i) {
    const int64_t b = i / prow, r = i % prow;
    to_f32(dst + i * pcol, src + b * bs + r * ld, pcol);
  }
  p.bs = nb == 1 ? 0 : prow * pcol;
  p.rs = row_major ? pcol : 1;
  p.cs = row_major ? 1 : pcol;
  return p;
}

template <class T>
void gemm_via_f32(const GemmArgs& g) {
  const int64_t nb_a = g.a_bs == 0 ? 1 : g.batch, nb_b = g.b_bs == 0 ? 1 : g.batch;
  Packed a =
      pack_f32(static_cast<const T*>(g.a), nb_a, g.m, g.k, g.a_bs, g.a_rs, g.a_cs, g.threads);
  Packed b =
      pack_f32(static_cast<const T*>(g.b), nb_b, g.k, g.n, g.b_bs, g.b_rs, g.b_cs, g.threads);
  Buffer c(size_t(g.batch * g.m * g.n) * sizeof(float));
  GemmArgs f = g;
  f.dtype = DType::f32;
  f.a = a.buf->as<float>();
  f.a_bs = a.bs, f.a_rs = a.rs, f.a_cs = a.cs;
  f.b = b.buf->as<float>();
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
      for (int64_t m = m0; m < m1; ++m) std::fill(Cb + m * g.c_rs + n0, Cb + m * g.c_rs + n1, 0.0);
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
  if (g.k == 0) {  // an empty sum: C = 0
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t m = 0; m < g.m; ++m)
        std::memset(static_cast<char*>(g.c) + size_t(b * g.c_bs + m * g.c_rs) * es, 0,
                    size_t(g.n) * es);
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

  switch (g.dtype) {
    case DType::f64:
      gemm_f64(g);
      return;
    case DType::f32: {
      auto p = cache().get(g);
      if (!p->ok)
        throw std::runtime_error(
            "kiln::cpu::gemm: oneDNN could not create an f32 matmul primitive");
      run_prim(*p, g);
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
