// Fused attention forward and backward; the math and the shape legend are in attention.h.
#include "kernels/cpu/attention.h"

#include <omp.h>

#include <algorithm>
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
  int64_t lo(int64_t i) const { return window > 0 ? std::clamp<int64_t>(i + off - window + 1, 0, S) : 0; }
};

// y[0..n) += a * x[0..n)
template <class A>
inline void axpy(A* __restrict y, A a, const A* __restrict x, int64_t n) {
#pragma omp simd
  for (int64_t e = 0; e < n; ++e) y[e] += a * x[e];
}

// c[r][0..BK) = sum_d a[r][d] bt[d][0..BK) for r < rows: one [rows x BK] tile of a b^T, with b
// stored transposed (bt [K][BK]) so that the inner loop runs over BK contiguous lanes and
// vectorises without reassociating a dot product.
template <class A>
inline void tile_abt(A* __restrict c, const A* __restrict a, int64_t lda, int64_t rows, int64_t K,
                     const A* __restrict bt) {
  for (int64_t r = 0; r < rows; ++r) {
    A acc[BK] = {};
    const A* ar = a + r * lda;
    for (int64_t d = 0; d < K; ++d) {
      const A x = ar[d];
      const A* b = bt + d * BK;
#pragma omp simd
      for (int64_t j = 0; j < BK; ++j) acc[j] += x * b[j];
    }
    A* cr = c + r * BK;
#pragma omp simd
    for (int64_t j = 0; j < BK; ++j) cr[j] = acc[j];
  }
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
void bias_and_mask(A* s, const AttentionArgs<A>& a, const KeyRange& kr, int64_t b, int64_t h, int64_t i0,
                   int64_t rows, int64_t j0, int64_t nk) {
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
void attention_forward(A* out, A* lse, const A* q, const A* k, const A* v, const AttentionArgs<A>& a,
                       int threads) {
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
        load_transposed(kt.data(), kp + j0 * D, nk, D);
        tile_abt(s.data(), qs.data(), D, rows, D, kt.data());
        bias_and_mask(s.data(), a, kr, b, h, i0, rows, j0, nk);
        for (int64_t r = 0; r < rows; ++r) {
          A* sr = s.data() + r * BK;
          A mx = ninf;
          for (int64_t c = 0; c < nk; ++c) mx = std::max(mx, sr[c]);
          if (mx == ninf) continue;  // nothing visible in this block for this row
          const A mnew = std::max(m[r], mx);
          const A corr = std::exp(m[r] - mnew);  // 0 on the row's first visible block
          A* ar = acc.data() + r * Dv;
          if (corr != A(1)) {
            l[r] *= corr;
            for (int64_t e = 0; e < Dv; ++e) ar[e] *= corr;
          }
          A sum = 0;
          for (int64_t c = 0; c < nk; ++c) {
            const A p = std::exp(sr[c] - mnew);
            sum += p;
            sr[c] = p;
          }
          l[r] += sum;
          m[r] = mnew;
          if (drop) {
            dropout_keep_run(keep, nk, uint64_t(((bh * T + i0 + r) * S) + j0), a.seed, a.offset, threshold);
            for (int64_t c = 0; c < nk; ++c) sr[c] = keep[c] ? sr[c] * zscale : A(0);
          }
          for (int64_t c = 0; c < nk; ++c)
            if (sr[c] != A(0)) axpy(ar, sr[c], vp + (j0 + c) * Dv, Dv);
        }
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
void attention_backward(A* dq, A* dk, A* dv, A* dbias, const A* dout, const A* q, const A* k, const A* v,
                        const A* out, const A* lse, const AttentionArgs<A>& a, int threads) {
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
            tile_abt(s.data(), qs.data(), D, rows, D, kt.data());
            bias_and_mask(s.data(), a, kr, b, h, i0, rows, j0, nk);
            tile_abt(dp.data(), dop, Dv, rows, Dv, vt.data());
            // s <- z P (what multiplied v in forward), dp <- dS = P (z dP - D_i).
            for (int64_t r = 0; r < rows; ++r) {
              A* sr = s.data() + r * BK;
              A* dpr = dp.data() + r * BK;
              if (drop) dropout_keep_run(keep, nk, uint64_t((bh * T + i0 + r) * S + j0), a.seed, a.offset, threshold);
              for (int64_t c = 0; c < nk; ++c) {
                const A p = std::exp(sr[c] - lp[r]);
                const A z = drop ? (keep[c] ? zscale : A(0)) : A(1);
                sr[c] = p * z;
                dpr[c] = p * (dpr[c] * z - drow[r]);
              }
              if (dbias) {
                A* db = dbias + (bh * T + i0 + r) * S + j0;
                for (int64_t c = 0; c < nk; ++c) db[c] = dpr[c];
              }
            }
            // dv_j += sum_r zP_rj dO_r; dk_j += sum_r dS_rj (scale q_r).
            for (int64_t c = 0; c < nk; ++c) {
              A* dvr = dvp + (j0 + c) * Dv;
              A* dkr = dkp + (j0 + c) * D;
              for (int64_t r = 0; r < rows; ++r) {
                const A pz = s[size_t(r * BK + c)], ds = dp[size_t(r * BK + c)];
                if (pz != A(0)) axpy(dvr, pz, dop + r * Dv, Dv);
                if (ds != A(0)) axpy(dkr, ds, qs.data() + r * D, D);
              }
            }
            // dq_r += sum_j dS_rj k_j (scaled once at the end).
            for (int64_t r = 0; r < rows; ++r) {
              A* dqr = dqt.data() + r * D;
              const A* dpr = dp.data() + r * BK;
              for (int64_t c = 0; c < nk; ++c)
                if (dpr[c] != A(0)) axpy(dqr, dpr[c], kp + (j0 + c) * D, D);
            }
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
template void attention_forward<double>(double*, double*, const double*, const double*, const double*,
                                        const AttentionArgs<double>&, int);
template void attention_backward<float>(float*, float*, float*, float*, const float*, const float*, const float*,
                                        const float*, const float*, const float*, const AttentionArgs<float>&, int);
template void attention_backward<double>(double*, double*, double*, double*, const double*, const double*,
                                         const double*, const double*, const double*, const double*,
                                         const AttentionArgs<double>&, int);

}  // namespace kiln::cpu
