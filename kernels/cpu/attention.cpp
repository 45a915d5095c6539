// Fused attention forward and backward; the math and the shape legend are in attention.h.
//
// GCC will not if-convert the float compares of the clamps in exp_tile under the default
// -ftrapping-math, which keeps the softmax loops scalar; kiln never enables floating-point
// traps, so this file is compiled without that assumption.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("no-trapping-math")
#endif
#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "kernels/cpu/dropout.h"

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
};

// exp for the softmax tiles. f32 uses a polynomial that vectorises (Cephes expf: n = round(x
// log2 e), r = x - n ln 2 with ln 2 split in two constants for accuracy, exp(r) by a degree-6
// polynomial, times 2^n assembled in the exponent bits; relative error below 1e-7), where the
// libm call would not and would cost as much as the tile's matrix products. n is rounded with
// the 1.5 * 2^23 trick, which leaves the integer in the low mantissa bits. Below ln(FLT_MIN)
// it returns exactly 0, so exp(-inf) = 0 for masked scores. f64 (the gradient-check dtype)
// keeps std::exp.
inline double exp_tile(double x) {
  return std::exp(x);
}
inline float exp_tile(float x) {
  constexpr float lo = -87.33654475f, hi = 88.37626266f;
  constexpr float magic = 12582912.0f;
  float xc = x < lo ? lo : x;
  xc = xc > hi ? hi : xc;
  const float tm = xc * 1.44269504088896341f + magic;
  const float n = tm - magic;
  const int32_t ni = std::bit_cast<int32_t>(tm) - std::bit_cast<int32_t>(magic);
  float r = xc - n * 0.693359375f;
  r -= n * -2.12194440e-4f;
  float y = 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * r * r + r + 1.0f;
  const float res = y * std::bit_cast<float>((ni + 127) << 23);
  return x < lo ? 0.0f : res;
}

// C[m][n] += sum_k A(m, k) B[k][n] for m < M, n < N, with A(m, k) = a[m * sam + k * sak] (so A
// may be read transposed), B and C row-major with leading dims ldb, ldc. The register tile is
// MR rows x NR columns (NR = one 64-byte line: 16 floats, 8 doubles): each k loads one line of
// B and broadcasts MR values of A, so loads stay below the FMAs. MR = 6 keeps 12 AVX2
// accumulators in registers (measured best of 4, 6, 8 on AVX2).
template <class A, int MR>
inline void gemm_rows(A* __restrict c, int64_t ldc, const A* __restrict a, int64_t sam, int64_t sak,
                      const A* __restrict b, int64_t ldb, int64_t N, int64_t K) {
  constexpr int64_t NR = 64 / int64_t(sizeof(A));
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    const int64_t w = std::min(NR, N - n0);
    A acc[MR][NR];
    if (w == NR) {
      for (int i = 0; i < MR; ++i)
#pragma omp simd
        for (int64_t j = 0; j < NR; ++j) acc[i][j] = c[i * ldc + n0 + j];
      for (int64_t k = 0; k < K; ++k) {
        const A* bk = b + k * ldb + n0;
        for (int i = 0; i < MR; ++i) {
          const A ai = a[i * sam + k * sak];
#pragma omp simd
          for (int64_t j = 0; j < NR; ++j) acc[i][j] += ai * bk[j];
        }
      }
      for (int i = 0; i < MR; ++i)
#pragma omp simd
        for (int64_t j = 0; j < NR; ++j) c[i * ldc + n0 + j] = acc[i][j];
    } else {
      for (int i = 0; i < MR; ++i)
        for (int64_t j = 0; j < w; ++j) acc[i][j] = c[i * ldc + n0 + j];
      for (int64_t k = 0; k < K; ++k) {
        const A* bk = b + k * ldb + n0;
        for (int i = 0; i < MR; ++i) {
          const A ai = a[i * sam + k * sak];
          for (int64_t j = 0; j < w; ++j) acc[i][j] += ai * bk[j];
        }
      }
      for (int i = 0; i < MR; ++i)
        for (int64_t j = 0; j < w; ++j) c[i * ldc + n0 + j] = acc[i][j];
    }
  }
}

template <class A>
inline void gemm_acc(A* c, int64_t ldc, const A* a, int64_t sam, int64_t sak, const A* b,
                     int64_t ldb, int64_t M, int64_t N, int64_t K) {
  int64_t m = 0;
  for (; m + 6 <= M; m += 6) gemm_rows<A, 6>(c + m * ldc, ldc, a + m * sam, sam, sak, b, ldb, N, K);
  if (m + 4 <= M) {
    gemm_rows<A, 4>(c + m * ldc, ldc, a + m * sam, sam, sak, b, ldb, N, K);
    m += 4;
  }
  if (m + 2 <= M) {
    gemm_rows<A, 2>(c + m * ldc, ldc, a + m * sam, sam, sak, b, ldb, N, K);
    m += 2;
  }
  if (m < M) gemm_rows<A, 1>(c + m * ldc, ldc, a + m * sam, sam, sak, b, ldb, N, K);
}

// bt[d][c] = src[c][d] for c < n (rows of length K, contiguous); lanes n..BK-1 zeroed.
template <class A>
inline void load_transposed(A* __restrict bt, const A* __restrict src, int64_t n, int64_t K) {
  for (int64_t d = 0; d < K; ++d) {
    A* row = bt + d * BK;
    for (int64_t c = 0; c < n; ++c) row[c] = src[c * K + d];
    for (int64_t c = n; c < BK; ++c) row[c] = A(0);
  }
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
    std::vector<A> qs(size_t(BQ * D)), kt(size_t(D * BK)), s(size_t(BQ * BK)), acc(size_t(BQ * Dv));
    A m[BQ], l[BQ];
    bool keep[BK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntasks; ++task) {
      const int64_t qb = task % nqb, bh = task / nqb, h = bh % H, b = bh / H;
      const int64_t i0 = qb * BQ, rows = std::min(BQ, T - i0);
      const A* kp = k + (b * Hkv + h / G) * S * D;
      const A* vp = v + (b * Hkv + h / G) * S * Dv;
      const A* qp = q + (bh * T + i0) * D;
      for (int64_t x = 0; x < rows * D; ++x) qs[size_t(x)] = qp[x] * a.scale;
      std::fill(acc.begin(), acc.end(), A(0));
      std::fill(m, m + BQ, ninf);
      std::fill(l, l + BQ, A(0));

      const int64_t jlo = kr.lo(i0), jhi = kr.hi(i0 + rows - 1);
      for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
        const int64_t nk = std::min(BK, jhi - j0);
        // s = (scale q) k^T + bias, -inf where hidden.
        load_transposed(kt.data(), kp + j0 * D, nk, D);
        std::fill(s.begin(), s.end(), A(0));
        gemm_acc(s.data(), BK, qs.data(), D, 1, kt.data(), BK, rows, BK, D);
        bias_and_mask(s.data(), a, kr, b, h, i0, rows, j0, nk);
        // Online softmax: s <- z exp(s - m'), the row's running max m' and sum l updated.
        for (int64_t r = 0; r < rows; ++r) {
          A* sr = s.data() + r * BK;
          A mx = ninf;
          for (int64_t c = 0; c < nk; ++c) mx = std::max(mx, sr[c]);
          if (mx == ninf) {  // nothing visible in this block for this row
            std::fill(sr, sr + nk, A(0));
            continue;
          }
          const A mnew = std::max(m[r], mx);
          const A corr = exp_tile(m[r] - mnew);  // 0 on the row's first visible block
          if (corr != A(1)) {
            A* ar = acc.data() + r * Dv;
            l[r] *= corr;
            for (int64_t e = 0; e < Dv; ++e) ar[e] *= corr;
          }
          A sum = 0;
#pragma omp simd reduction(+ : sum)
          for (int64_t c = 0; c < nk; ++c) {
            const A p = exp_tile(sr[c] - mnew);
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
        // acc += s v
        gemm_acc(acc.data(), Dv, s.data(), BK, 1, vp + j0 * Dv, Dv, rows, Dv, nk);
      }

      A* op = out + (bh * T + i0) * Dv;
      A* lp = lse + bh * T + i0;
      for (int64_t r = 0; r < rows; ++r) {
        A* orow = op + r * Dv;
        if (m[r] == ninf) {
          for (int64_t e = 0; e < Dv; ++e) orow[e] = A(0);
          lp[r] = std::numeric_limits<A>::infinity();
        } else {
          const A inv = A(1) / l[r];
          const A* ar = acc.data() + r * Dv;
          for (int64_t e = 0; e < Dv; ++e) orow[e] = ar[e] * inv;
          lp[r] = m[r] + std::log(l[r]);
        }
      }
    }
  }
}

template <class A>
void attention_backward(A* dq, A* dk, A* dv, A* dbias, const A* dout, const A* q, const A* k,
                        const A* v, const A* out, const A* lse, const AttentionArgs<A>& a,
                        int threads) {
  const int64_t B = a.B, H = a.H, Hkv = a.Hkv, T = a.T, S = a.S, D = a.D, Dv = a.Dv, G = H / Hkv;
  const KeyRange kr(T, S, a.causal, a.window);
  const int64_t nqb = (T + BQ - 1) / BQ, ntasks = B * Hkv;
  const bool drop = a.dropout > 0;
  const uint32_t threshold = dropout_threshold(a.dropout);
  const A zscale = A(1.0 / (1.0 - a.dropout));

#pragma omp parallel num_threads(threads) if (ntasks > 1)
  {
    std::vector<A> qs(size_t(BQ * D)), kt(size_t(D * BK)), vt(size_t(Dv * BK)), s(size_t(BQ * BK)),
        dp(size_t(BQ * BK)), dqt(size_t(BQ * D));
    A drow[BQ];
    bool keep[BK];
#pragma omp for schedule(dynamic, 1)
    for (int64_t task = 0; task < ntasks; ++task) {
      const int64_t b = task / Hkv, kvh = task % Hkv;
      const A* kp = k + task * S * D;
      const A* vp = v + task * S * Dv;
      A* dkp = dk + task * S * D;
      A* dvp = dv + task * S * Dv;
      std::fill(dkp, dkp + S * D, A(0));
      std::fill(dvp, dvp + S * Dv, A(0));
      for (int64_t g = 0; g < G; ++g) {
        const int64_t h = kvh * G + g, bh = b * H + h;
        for (int64_t qb = 0; qb < nqb; ++qb) {
          const int64_t i0 = qb * BQ, rows = std::min(BQ, T - i0);
          const A* qp = q + (bh * T + i0) * D;
          const A* dop = dout + (bh * T + i0) * Dv;
          const A* op = out + (bh * T + i0) * Dv;
          const A* lp = lse + bh * T + i0;
          for (int64_t x = 0; x < rows * D; ++x) qs[size_t(x)] = qp[x] * a.scale;
          std::fill(dqt.begin(), dqt.end(), A(0));
          for (int64_t r = 0; r < rows; ++r) {
            A d = 0;
            for (int64_t e = 0; e < Dv; ++e) d += dop[r * Dv + e] * op[r * Dv + e];
            drow[r] = d;
          }
          const int64_t jlo = kr.lo(i0), jhi = kr.hi(i0 + rows - 1);
          for (int64_t j0 = jlo; j0 < jhi; j0 += BK) {
            const int64_t nk = std::min(BK, jhi - j0);
            load_transposed(kt.data(), kp + j0 * D, nk, D);
            load_transposed(vt.data(), vp + j0 * Dv, nk, Dv);
            std::fill(s.begin(), s.end(), A(0));
            std::fill(dp.begin(), dp.end(), A(0));
            gemm_acc(s.data(), BK, qs.data(), D, 1, kt.data(), BK, rows, BK, D);
            bias_and_mask(s.data(), a, kr, b, h, i0, rows, j0, nk);
            gemm_acc(dp.data(), BK, dop, Dv, 1, vt.data(), BK, rows, BK, Dv);
            // s <- z P (what multiplied v in forward), dp <- dS = P (z dP - D_i).
            for (int64_t r = 0; r < rows; ++r) {
              A* sr = s.data() + r * BK;
              A* dpr = dp.data() + r * BK;
              const A lr = lp[r], dr = drow[r];
#pragma omp simd
              for (int64_t c = 0; c < nk; ++c) sr[c] = exp_tile(sr[c] - lr);
              if (drop) {
                dropout_keep_run(keep, nk, uint64_t((bh * T + i0 + r) * S + j0), a.seed, a.offset,
                                 threshold);
                for (int64_t c = 0; c < nk; ++c) {
                  const A z = keep[c] ? zscale : A(0);
                  dpr[c] = sr[c] * (dpr[c] * z - dr);
                  sr[c] *= z;
                }
              } else {
#pragma omp simd
                for (int64_t c = 0; c < nk; ++c) dpr[c] = sr[c] * (dpr[c] - dr);
              }
              if (dbias) {
                A* db = dbias + (bh * T + i0 + r) * S + j0;
                for (int64_t c = 0; c < nk; ++c) db[c] = dpr[c];
              }
            }
            // dv_j += sum_r zP_rj dO_r;  dk_j += sum_r dS_rj (scale q_r);  dq_r += sum_j dS_rj k_j.
            gemm_acc(dvp + j0 * Dv, Dv, s.data(), 1, BK, dop, Dv, nk, Dv, rows);
            gemm_acc(dkp + j0 * D, D, dp.data(), 1, BK, qs.data(), D, nk, D, rows);
            gemm_acc(dqt.data(), D, dp.data(), BK, 1, kp + j0 * D, D, rows, D, nk);
          }
          A* dqp = dq + (bh * T + i0) * D;
          for (int64_t x = 0; x < rows * D; ++x) dqp[x] = dqt[size_t(x)] * a.scale;
        }
      }
    }
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
