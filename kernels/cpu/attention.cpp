// Fused attention forward and backward; the math and the shape legend are in attention.h.
#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#if defined(__AVX2__)
#include <immintrin.h>
#endif

#include "kernels/cpu/dropout.h"
#include "kernels/cpu/fast_exp.h"
#include "kernels/cpu/gemm_tile.h"

namespace kiln::cpu {
namespace {

constexpr int64_t BQ = kAttentionBlockQ;
constexpr int64_t BK = kAttentionBlockK;

// Which keys a query row sees by position: [lo(i), hi(i)). The explicit mask, if any, is
// applied on top of this range.
struct KeyRange {
  int64_t T, S, off;
  bool bounded;    // causal or windowed: keys beyond i + off are hidden
  int64_t window;  // > 0: keys at or below i + off - window are hidden

  KeyRange(int64_t t, int64_t s, bool causal, int64_t w)
      : T(t), S(s), off(s - t), bounded(causal || w > 0), window(std::min<int64_t>(w, s + t + 1)) {}
  int64_t hi(int64_t i) const { return bounded ? std::clamp<int64_t>(i + off + 1, 0, S) : S; }
  int64_t lo(int64_t i) const {
    return window > 0 ? std::clamp<int64_t>(i + off - window + 1, 0, S) : 0;
  }
  // The queries that see key j by position: [qlo(j), qhi(j)) (unclamped).
  int64_t qlo(int64_t j) const { return bounded ? j - off : 0; }
  int64_t qhi(int64_t j) const { return window > 0 ? j - off + window : T; }

  // The bands of a tile of queries i0.. and keys j0.. for gemm_acc (see Full, FullK):
  // score-shaped products (rows are queries, columns keys) need keys below hi of the last row;
  struct ScoreCols {
    const KeyRange* kr;
    int64_t i0, j0;
    int64_t operator()(int64_t m1) const { return kr->hi(i0 + m1) - j0; }
  };
  // sums over keys for rows of queries (P V, dS K) need the keys the rows see;
  struct KeysOfQueries {
    const KeyRange* kr;
    int64_t i0, j0;
    std::pair<int64_t, int64_t> operator()(int64_t m0, int64_t m1) const {
      return {kr->lo(i0 + m0) - j0, kr->hi(i0 + m1) - j0};
    }
  };
  // sums over queries for rows of keys (P^T dO, dS^T q) need the queries that see them.
  struct QueriesOfKeys {
    const KeyRange* kr;
    int64_t i0, j0;
    std::pair<int64_t, int64_t> operator()(int64_t m0, int64_t m1) const {
      return {kr->qlo(j0 + m0) - i0, kr->qhi(j0 + m1) - i0};
    }
  };
  ScoreCols score_cols(int64_t i0, int64_t j0) const { return {this, i0, j0}; }
  KeysOfQueries keys_of_queries(int64_t i0, int64_t j0) const { return {this, i0, j0}; }
  QueriesOfKeys queries_of_keys(int64_t i0, int64_t j0) const { return {this, i0, j0}; }
};

// The part of a tile product a block of C rows needs, when some of the tile is hidden by
// position (causal or windowed tiles): C columns [0, n_end) and the sum over k in
// [k_begin, k_end). What is left out is either overwritten with -inf afterwards (scores) or a
// sum of exact zeros (probabilities of hidden keys), so the results keep their bits.
struct Full {
  int64_t operator()(int64_t) const { return std::numeric_limits<int64_t>::max(); }
};
struct FullK {
  std::pair<int64_t, int64_t> operator()(int64_t, int64_t) const {
    return {0, std::numeric_limits<int64_t>::max()};
  }
};

// C[m][n] += sum_k A(m, k) B[k][n] (see gemm_rows) in blocks of up to 6 rows; for the block of
// rows m0..m1, only columns n < n_end(m1) (rounded up to whole register tiles) and k in
// k_range(m0, m1). With kSet, C = A B on those columns; the columns left out keep what they
// held (the caller overwrites or never reads them).
template <bool kSet = false, class A, class NEnd = Full, class KRange = FullK>
inline void gemm_acc(A* c, int64_t ldc, const A* a, int64_t sam, int64_t sak, const A* b,
                     int64_t ldb, int64_t M, int64_t N, int64_t K, NEnd n_end = {},
                     KRange k_range = {}) {
  constexpr int64_t NR = 64 / int64_t(sizeof(A));
  auto block = [&]<int MR>(std::integral_constant<int, MR>, int64_t m) {
    const int64_t ne = n_end(m + MR - 1);
    const int64_t n = ne >= N ? N : std::min(N, (std::max<int64_t>(ne, 0) + NR - 1) / NR * NR);
    auto [k0, k1] = k_range(m, m + MR - 1);
    k0 = std::max<int64_t>(k0, 0);
    k1 = std::min(k1, K);
    if (n <= 0 || (k1 <= k0 && !kSet)) return;
    gemm_rows<A, MR, kSet>(c + m * ldc, ldc, a + m * sam + k0 * sak, sam, sak, b + k0 * ldb, ldb, n,
                           std::max<int64_t>(k1 - k0, 0));
  };
  int64_t m = 0;
  for (; m + 6 <= M; m += 6) block(std::integral_constant<int, 6>{}, m);
  if (m + 4 <= M) {
    block(std::integral_constant<int, 4>{}, m);
    m += 4;
  }
  if (m + 2 <= M) {
    block(std::integral_constant<int, 2>{}, m);
    m += 2;
  }
  if (m < M) block(std::integral_constant<int, 1>{}, m);
}

#if defined(__AVX2__)
// d[r * ldd + c] = s[c * ld + r] for an 8 x 8 block of floats (the usual unpack / shuffle /
// permute sequence: 24 shuffles instead of 64 scalar moves).
inline void transpose8x8(const float* s, int64_t ld, float* d, int64_t ldd) {
  __m256 r[8], t[8];
  for (int i = 0; i < 8; ++i) r[i] = _mm256_loadu_ps(s + i * ld);
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    r[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    r[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xEE);
    r[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    r[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xEE);
  }
  for (int i = 0; i < 4; ++i) {
    _mm256_storeu_ps(d + i * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x20));
    _mm256_storeu_ps(d + (i + 4) * ldd, _mm256_permute2f128_ps(r[i], r[i + 4], 0x31));
  }
}
#endif

// bt[d][c] = src[c][d] for c < n (rows of K values, `ld` apart); lanes n..BK-1 zeroed.
template <class A>
inline void load_transposed(A* __restrict bt, const A* __restrict src, int64_t ld, int64_t n,
                            int64_t K) {
#if defined(__AVX2__)
  if constexpr (std::is_same_v<A, float>) {
    if (n % 8 == 0 && K % 8 == 0) {
      for (int64_t c = 0; c < n; c += 8)
        for (int64_t d = 0; d < K; d += 8) transpose8x8(src + c * ld + d, ld, bt + d * BK + c, BK);
      if (n < BK)
        for (int64_t d = 0; d < K; ++d) std::fill(bt + d * BK + n, bt + (d + 1) * BK, A(0));
      return;
    }
  }
#endif
  for (int64_t d = 0; d < K; ++d) {
    A* row = bt + d * BK;
    for (int64_t c = 0; c < n; ++c) row[c] = src[c * ld + d];
    for (int64_t c = n; c < BK; ++c) row[c] = A(0);
  }
}

// Per-thread tiles that outlive the call (the kernels run about 100 times a training step; a
// fresh, zero-filled buffer each time cost more than some tiles' arithmetic). Slot i holds at
// least n values; contents are whatever the last user left.
template <class A>
A* thread_tile(int slot, int64_t n) {
  thread_local std::vector<A> tiles[6];
  std::vector<A>& t = tiles[slot];
  if (t.size() < size_t(n)) t.resize(size_t(n));
  return t.data();
}

// The first row of head (b, h) of an operand laid out as l.
template <class P>
inline P* head_of(P* base, const AttentionLayout& l, int64_t b, int64_t h) {
  return base + b * l.b + h * l.h;
}

// The first key in [jlo, jhi) that the mask shows to any of queries i0 .. i0 + rows - 1 of
// head (b, h); jhi when none. The keys before it (a left-padded row's padding) add nothing.
template <class A>
int64_t first_shown_key(const AttentionArgs<A>& a, int64_t b, int64_t h, int64_t i0, int64_t rows,
                        int64_t jlo, int64_t jhi) {
  const int64_t* st = a.mask_strides;
  const bool* mp = a.mask + b * st[0] + h * st[1] + i0 * st[2];
  for (int64_t j = jlo; j < jhi; ++j)
    for (int64_t r = 0; r < rows; ++r)
      if (mp[r * st[2] + j * st[3]]) return j;
  return jhi;
}

// Adds the bias to a score tile and sets hidden entries to -inf.
template <class A>
void bias_and_mask(A* s, const AttentionArgs<A>& a, const KeyRange& kr, int64_t b, int64_t h,
                   int64_t i0, int64_t rows, int64_t j0, int64_t nk) {
  constexpr A ninf = -std::numeric_limits<A>::infinity();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = i0 + r;
    A* sr = s + r * BK;
    if (a.bias) {
      const int64_t* st = a.bias_strides;
      const A* bp = a.bias + b * st[0] + h * st[1] + i * st[2] + j0 * st[3];
      if (st[3] == 1) {
        for (int64_t c = 0; c < nk; ++c) sr[c] += bp[c];
      } else {
        for (int64_t c = 0; c < nk; ++c) sr[c] += bp[c * st[3]];
      }
    }
    if (a.mask) {
      const int64_t* st = a.mask_strides;
      const bool* mp = a.mask + b * st[0] + h * st[1] + i * st[2] + j0 * st[3];
      for (int64_t c = 0; c < nk; ++c)
        if (!mp[c * st[3]]) sr[c] = ninf;
    }
    const int64_t lo = kr.lo(i) - j0, hi = kr.hi(i) - j0;
    for (int64_t c = 0; c < std::min(lo, nk); ++c) sr[c] = ninf;
    for (int64_t c = std::max<int64_t>(hi, 0); c < nk; ++c) sr[c] = ninf;
  }
}

}  // namespace

template <class A>
void attention_forward(A* out, A* lse, const A* q, const A* k, const A* v,
                       const AttentionArgs<A>& a, int threads) {
  const int64_t B = a.B, H = a.H, Hkv = a.Hkv, T = a.T, S = a.S, D = a.D, Dv = a.Dv, G = H / Hkv;
  const KeyRange kr(T, S, a.causal, a.window);
  const int64_t nqb = (T + BQ - 1) / BQ, ntasks = B * H * nqb;
  const bool drop = a.dropout > 0;
  const uint32_t threshold = dropout_threshold(a.dropout);
  const A zscale = A(1.0 / (1.0 - a.dropout));
  constexpr A ninf = -std::numeric_limits<A>::infinity();

#pragma omp parallel num_threads(threads) if (ntasks > 1)
  {
    A* qs = thread_tile<A>(0, BQ * D);
    A* kt = thread_tile<A>(1, D * BK);
    A* s = thread_tile<A>(2, BQ * BK);
    A* acc = thread_tile<A>(3, BQ * Dv);
    A m[BQ], l[BQ];
    bool keep[BK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntasks; ++task) {
      const int64_t qb = task % nqb, bh = task / nqb, h = bh % H, b = bh / H;
      const int64_t i0 = qb * BQ, rows = std::min(BQ, T - i0);
      const A* kp = head_of(k, a.k, b, h / G);
      const A* vp = head_of(v, a.v, b, h / G);
      const A* qp = head_of(q, a.q, b, h) + i0 * a.q.r;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t d = 0; d < D; ++d) qs[r * D + d] = qp[r * a.q.r + d] * a.scale;
      std::fill(m, m + BQ, ninf);
      std::fill(l, l + BQ, A(0));

      // The key tiles start at the first key the mask shows: a left-padded row's tiles then
      // hold the same keys, and its sums group the same way, whatever padding its batch gave
      // it (batch-invariant evaluation and generation; exact, since hidden keys add nothing).
      const int64_t jhi = kr.hi(i0 + rows - 1);
      const int64_t jlo = a.mask ? first_shown_key(a, b, h, i0, rows, kr.lo(i0), jhi) : kr.lo(i0);
      for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
        const int64_t nk = std::min(BK, jhi - j0);
        // s = (scale q) k^T + bias, -inf where hidden.
        load_transposed(kt, kp + j0 * a.k.r, a.k.r, nk, D);
        // Columns past the band are not computed; bias_and_mask sets them to -inf.
        gemm_acc<true>(s, BK, qs, D, 1, kt, BK, rows, BK, D, kr.score_cols(i0, j0));
        bias_and_mask(s, a, kr, b, h, i0, rows, j0, nk);
        // Online softmax: s <- z exp(s - m'), the row's running max m' and sum l updated.
        for (int64_t r = 0; r < rows; ++r) {
          A* sr = s + r * BK;
          // Keys outside [cb, ce) are hidden by position (-inf, so probability 0): only the
          // band is visited.
          const int64_t cb = std::clamp<int64_t>(kr.lo(i0 + r) - j0, 0, nk);
          const int64_t ce = std::clamp<int64_t>(kr.hi(i0 + r) - j0, cb, nk);
          A mx = ninf;
#pragma omp simd reduction(max : mx)
          for (int64_t c = cb; c < ce; ++c) mx = sr[c] > mx ? sr[c] : mx;
          if (mx == ninf) {  // nothing visible in this block for this row
            std::fill(sr, sr + nk, A(0));
            continue;
          }
          std::fill(sr, sr + cb, A(0));
          std::fill(sr + ce, sr + nk, A(0));
          const A mnew = std::max(m[r], mx);
          const A corr = exp_acc(m[r] - mnew);  // 0 on the row's first visible block
          if (corr != A(1) && j0 != jlo) {      // (acc is written, not scaled, by the first block)
            A* ar = acc + r * Dv;
            l[r] *= corr;
            for (int64_t e = 0; e < Dv; ++e) ar[e] *= corr;
          }
          A sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t c = cb; c < ce; ++c) {
            const A p = exp_acc(sr[c] - mnew);
            sum += p;
            sr[c] = p;
          }
          l[r] += sum;
          m[r] = mnew;
          if (drop) {
            dropout_keep_run(keep, nk, uint64_t(((bh * T + i0 + r) * S) + j0), a.seed, a.offset,
                             threshold);
            for (int64_t c = 0; c < nk; ++c) sr[c] = keep[c] ? sr[c] * zscale : A(0);
          }
        }
        // acc += s v (acc = s v for the first block: no zero-filling)
        if (j0 == jlo)
          gemm_acc<true>(acc, Dv, s, BK, 1, vp + j0 * a.v.r, a.v.r, rows, Dv, nk, Full{},
                         kr.keys_of_queries(i0, j0));
        else
          gemm_acc(acc, Dv, s, BK, 1, vp + j0 * a.v.r, a.v.r, rows, Dv, nk, Full{},
                   kr.keys_of_queries(i0, j0));
      }

      A* op = head_of(out, a.out, b, h) + i0 * a.out.r;
      A* lp = lse + bh * T + i0;
      for (int64_t r = 0; r < rows; ++r) {
        A* orow = op + r * a.out.r;
        if (m[r] == ninf) {
          for (int64_t e = 0; e < Dv; ++e) orow[e] = A(0);
          lp[r] = std::numeric_limits<A>::infinity();
        } else {
          const A inv = A(1) / l[r];
          const A* ar = acc + r * Dv;
          for (int64_t e = 0; e < Dv; ++e) orow[e] = ar[e] * inv;
          lp[r] = m[r] + std::log(l[r]);
        }
      }
    }
  }
}

namespace {

// Backward state shared by its tasks, and each thread's tiles.
template <class A>
struct Backward {
  const AttentionArgs<A>& a;
  A *dq, *dk, *dv, *dbias;
  const A *dout, *q, *k, *v, *out, *lse;
  KeyRange kr;
  int64_t G, nqb;
  uint32_t threshold;
  A zscale;

  struct Tiles {
    A *qs, *kt, *vt, *s, *dp, *dqt;
    A drow[BQ];
    bool keep[BK];
    explicit Tiles(const AttentionArgs<A>& a)
        : qs(thread_tile<A>(0, BQ * a.D)),
          kt(thread_tile<A>(1, a.D * BK)),
          vt(thread_tile<A>(2, a.Dv * BK)),
          s(thread_tile<A>(3, BQ * BK)),
          dp(thread_tile<A>(4, BQ * BK)),
          dqt(thread_tile<A>(5, BQ * a.D)) {}
  };

  // The query rows i0..i0+rows of head bh: qs = scale q, drow = D_i = dO_i . out_i.
  void load_rows(Tiles& w, int64_t bh, int64_t i0, int64_t rows) const {
    const int64_t b = bh / a.H, h = bh % a.H;
    const A* qp = head_of(q, a.q, b, h) + i0 * a.q.r;
    const A* dop = head_of(dout, a.dout, b, h) + i0 * a.dout.r;
    const A* op = head_of(out, a.out, b, h) + i0 * a.out.r;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < a.D; ++d) w.qs[r * a.D + d] = qp[r * a.q.r + d] * a.scale;
    for (int64_t r = 0; r < rows; ++r) {
      const A* x = dop + r * a.dout.r;
      const A* y = op + r * a.out.r;
      A d = 0;
#pragma omp simd reduction(+ : d)
      for (int64_t e = 0; e < a.Dv; ++e) d += x[e] * y[e];
      w.drow[r] = d;
    }
  }

  // For those rows (loaded) and keys j0..j0+nk: s <- z P, dp <- dS = P (z dP - D_i), and dS
  // into dbias when asked. Every entry depends only on its own row and key, never on how keys
  // are grouped into tiles, so both schedules below compute the same bits.
  void grad_tile(Tiles& w, int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t j0, int64_t nk,
                 bool write_dbias) const {
    const int64_t bh = b * a.H + h;
    const A* kp = head_of(k, a.k, b, h / G);
    const A* vp = head_of(v, a.v, b, h / G);
    const A* dop = head_of(dout, a.dout, b, h) + i0 * a.dout.r;
    const A* lp = lse + bh * a.T + i0;
    load_transposed(w.kt, kp + j0 * a.k.r, a.k.r, nk, a.D);
    load_transposed(w.vt, vp + j0 * a.v.r, a.v.r, nk, a.Dv);
    // Entries past the band are not computed: the row loop below sets them to 0.
    gemm_acc<true>(w.s, BK, w.qs, a.D, 1, w.kt, BK, rows, BK, a.D, kr.score_cols(i0, j0));
    bias_and_mask(w.s, a, kr, b, h, i0, rows, j0, nk);
    gemm_acc<true>(w.dp, BK, dop, a.dout.r, 1, w.vt, BK, rows, BK, a.Dv, kr.score_cols(i0, j0));
    for (int64_t r = 0; r < rows; ++r) {
      A* sr = w.s + r * BK;
      A* dpr = w.dp + r * BK;
      const A lr = lp[r], dr = w.drow[r];
      // Outside the band [cb, ce) keys are hidden by position: P = 0 and dS = 0.
      const int64_t cb = std::clamp<int64_t>(kr.lo(i0 + r) - j0, 0, nk);
      const int64_t ce = std::clamp<int64_t>(kr.hi(i0 + r) - j0, cb, nk);
      std::fill(sr, sr + cb, A(0));
      std::fill(sr + ce, sr + nk, A(0));
      std::fill(dpr, dpr + cb, A(0));
      std::fill(dpr + ce, dpr + nk, A(0));
#pragma omp simd
      for (int64_t c = cb; c < ce; ++c) sr[c] = exp_acc(sr[c] - lr);
      if (a.dropout > 0) {
        dropout_keep_run(w.keep, nk, uint64_t((bh * a.T + i0 + r) * a.S + j0), a.seed, a.offset,
                         threshold);
        for (int64_t c = cb; c < ce; ++c) {
          const A z = w.keep[c] ? zscale : A(0);
          dpr[c] = sr[c] * (dpr[c] * z - dr);
          sr[c] *= z;
        }
      } else {
#pragma omp simd
        for (int64_t c = cb; c < ce; ++c) dpr[c] = sr[c] * (dpr[c] - dr);
      }
      if (dbias && write_dbias) {
        A* db = dbias + (bh * a.T + i0 + r) * a.S + j0;
        for (int64_t c = 0; c < nk; ++c) db[c] = dpr[c];
      }
    }
  }

  // dv_j += sum_r zP_rj dO_r and dk_j += sum_r dS_rj (scale q_r) for the tile's keys.
  void add_dkdv(Tiles& w, int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t j0,
                int64_t nk) const {
    const A* dop = head_of(dout, a.dout, b, h) + i0 * a.dout.r;
    gemm_acc(head_of(dv, a.dv, b, h / G) + j0 * a.dv.r, a.dv.r, w.s, 1, BK, dop, a.dout.r, nk, a.Dv,
             rows, Full{}, kr.queries_of_keys(i0, j0));
    gemm_acc(head_of(dk, a.dk, b, h / G) + j0 * a.dk.r, a.dk.r, w.dp, 1, BK, w.qs, a.D, nk, a.D,
             rows, Full{}, kr.queries_of_keys(i0, j0));
  }

  // dq_r += sum_j dS_rj k_j for the tile's keys (scaled when the row block is done); the first
  // tile of a row block writes dq_r rather than adding to it.
  void add_dq(Tiles& w, int64_t b, int64_t h, int64_t i0, int64_t rows, int64_t j0, int64_t nk,
              bool first) const {
    const A* kp = head_of(k, a.k, b, h / G);
    if (first)
      gemm_acc<true>(w.dqt, a.D, w.dp, BK, 1, kp + j0 * a.k.r, a.k.r, rows, a.D, nk, Full{},
                     kr.keys_of_queries(i0, j0));
    else
      gemm_acc(w.dqt, a.D, w.dp, BK, 1, kp + j0 * a.k.r, a.k.r, rows, a.D, nk, Full{},
               kr.keys_of_queries(i0, j0));
  }

  void store_dq(Tiles& w, int64_t bh, int64_t i0, int64_t rows) const {
    A* dqp = head_of(dq, a.dq, bh / a.H, bh % a.H) + i0 * a.dq.r;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t d = 0; d < a.D; ++d) dqp[r * a.dq.r + d] = w.dqt[r * a.D + d] * a.scale;
  }

  // Zeroes key rows c0..c1 of dk and dv of kv head kvh of batch b.
  void zero_dkdv(int64_t b, int64_t kvh, int64_t c0, int64_t c1) const {
    A* dkp = head_of(dk, a.dk, b, kvh);
    A* dvp = head_of(dv, a.dv, b, kvh);
    for (int64_t j = c0; j < c1; ++j) {
      std::fill(dkp + j * a.dk.r, dkp + j * a.dk.r + a.D, A(0));
      std::fill(dvp + j * a.dv.r, dvp + j * a.dv.r + a.Dv, A(0));
    }
  }

  // Schedule 1, one task per (b, kv head): all of its query heads and blocks, every key tile.
  void per_kv_head(Tiles& w, int64_t b, int64_t kvh) const {
    zero_dkdv(b, kvh, 0, a.S);
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = kvh * G + g, bh = b * a.H + h;
      for (int64_t qb = 0; qb < nqb; ++qb) {
        const int64_t i0 = qb * BQ, rows = std::min(BQ, a.T - i0);
        load_rows(w, bh, i0, rows);
        const int64_t jlo = kr.lo(i0), jhi = kr.hi(i0 + rows - 1);
        if (jlo >= jhi) std::fill(w.dqt, w.dqt + BQ * a.D, A(0));  // no key: dq = 0
        for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
          const int64_t nk = std::min(BK, jhi - j0);
          grad_tile(w, b, h, i0, rows, j0, nk, /*write_dbias=*/true);
          add_dkdv(w, b, h, i0, rows, j0, nk);
          add_dq(w, b, h, i0, rows, j0, nk, j0 == jlo);
        }
        store_dq(w, bh, i0, rows);
      }
    }
  }

  // Schedule 2, phase 1, one task per (b, kv head, aligned key chunk): dk, dv of those keys.
  // Contributions arrive in the same (g, query block) order as in schedule 1.
  void per_key_chunk(Tiles& w, int64_t b, int64_t kvh, int64_t chunk) const {
    const int64_t c0 = chunk * BK, c1 = std::min(a.S, c0 + BK);
    zero_dkdv(b, kvh, c0, c1);
    for (int64_t g = 0; g < G; ++g) {
      const int64_t h = kvh * G + g, bh = b * a.H + h;
      for (int64_t qb = 0; qb < nqb; ++qb) {
        const int64_t i0 = qb * BQ, rows = std::min(BQ, a.T - i0);
        const int64_t j0 = std::max(kr.lo(i0), c0), j1 = std::min(kr.hi(i0 + rows - 1), c1);
        if (j0 >= j1) continue;
        load_rows(w, bh, i0, rows);
        grad_tile(w, b, h, i0, rows, j0, j1 - j0, /*write_dbias=*/false);
        add_dkdv(w, b, h, i0, rows, j0, j1 - j0);
      }
    }
  }

  // Schedule 2, phase 2, one task per (b, h, query block): dq (and dbias) of those rows, over
  // the same key tiles as schedule 1.
  void per_query_block(Tiles& w, int64_t bh, int64_t qb) const {
    const int64_t b = bh / a.H, h = bh % a.H;
    const int64_t i0 = qb * BQ, rows = std::min(BQ, a.T - i0);
    load_rows(w, bh, i0, rows);
    const int64_t jlo = kr.lo(i0), jhi = kr.hi(i0 + rows - 1);
    if (jlo >= jhi) std::fill(w.dqt, w.dqt + BQ * a.D, A(0));  // no key: dq = 0
    for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
      const int64_t nk = std::min(BK, jhi - j0);
      grad_tile(w, b, h, i0, rows, j0, nk, /*write_dbias=*/true);
      add_dq(w, b, h, i0, rows, j0, nk, j0 == jlo);
    }
    store_dq(w, bh, i0, rows);
  }
};

}  // namespace

template <class A>
void attention_backward(A* dq, A* dk, A* dv, A* dbias, const A* dout, const A* q, const A* k,
                        const A* v, const A* out, const A* lse, const AttentionArgs<A>& a,
                        int threads) {
  const Backward<A> bw{a,
                       dq,
                       dk,
                       dv,
                       dbias,
                       dout,
                       q,
                       k,
                       v,
                       out,
                       lse,
                       KeyRange(a.T, a.S, a.causal, a.window),
                       a.H / a.Hkv,
                       (a.T + BQ - 1) / BQ,
                       dropout_threshold(a.dropout),
                       A(1.0 / (1.0 - a.dropout))};
  const int64_t kv_tasks = a.B * a.Hkv;
  if (kv_tasks >= threads) {
#pragma omp parallel num_threads(threads) if (kv_tasks > 1)
    {
      typename Backward<A>::Tiles w(a);
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < kv_tasks; ++t) bw.per_kv_head(w, t / a.Hkv, t % a.Hkv);
    }
    return;
  }
  // Fewer kv heads than threads: split into key chunks (dk, dv) and query blocks (dq). This
  // recomputes the probabilities twice but keeps every thread busy, and gives the same bits.
  const int64_t nkc = (a.S + BK - 1) / BK, q_tasks = a.B * a.H * bw.nqb;
#pragma omp parallel num_threads(threads)
  {
    typename Backward<A>::Tiles w(a);
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < kv_tasks * nkc; ++t) {
      const int64_t kvo = t / nkc;
      bw.per_key_chunk(w, kvo / a.Hkv, kvo % a.Hkv, t % nkc);
    }
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < q_tasks; ++t) bw.per_query_block(w, t / bw.nqb, t % bw.nqb);
  }
}

template void attention_forward<float>(float*, float*, const float*, const float*, const float*,
                                       const AttentionArgs<float>&, int);
template void attention_forward<double>(double*, double*, const double*, const double*,
                                        const double*, const AttentionArgs<double>&, int);
template void attention_backward<float>(float*, float*, float*, float*, const float*, const float*,
                                        const float*, const float*, const float*, const float*,
                                        const AttentionArgs<float>&, int);
template void attention_backward<double>(double*, double*, double*, double*, const double*,
                                         const double*, const double*, const double*, const double*,
                                         const double*, const AttentionArgs<double>&, int);

}  // namespace kiln::cpu
