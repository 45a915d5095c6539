// The register-tiled product the CPU kernels share: the fused attention's tiles and the
// batch-invariant GEMM (gemm.cpp). Every element of C is one chain of multiply-adds over k in
// increasing order, whatever MR, the column tile it falls in, or the rows beside it.
#pragma once

#include <algorithm>
#include <cstdint>

namespace kiln::cpu {

// C[m][n] += sum_k A(m, k) B[k][n] for m < M, n < N, with A(m, k) = a[m * sam + k * sak] (so A
// may be read transposed), B and C row-major with leading dims ldb, ldc. The register tile is
// MR rows x NR columns (NR = one 64-byte line: 16 floats, 8 doubles): each k loads one line of
// B and broadcasts MR values of A, so loads stay below the FMAs. MR = 6 keeps 12 AVX2
// accumulators in registers (measured best of 4, 6, 8 on AVX2). With kSet, C = A B instead (C
// is not read, so it needs no zero-filling first).
template <class A, int MR, bool kSet = false>
inline void gemm_rows(A* __restrict c, int64_t ldc, const A* __restrict a, int64_t sam, int64_t sak,
                      const A* __restrict b, int64_t ldb, int64_t N, int64_t K) {
  constexpr int64_t NR = 64 / int64_t(sizeof(A));
  for (int64_t n0 = 0; n0 < N; n0 += NR) {
    const int64_t w = std::min(NR, N - n0);
    A acc[MR][NR];
    if (w == NR) {
      for (int i = 0; i < MR; ++i)
#pragma omp simd
        for (int64_t j = 0; j < NR; ++j) acc[i][j] = kSet ? A(0) : c[i * ldc + n0 + j];
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
        for (int64_t j = 0; j < w; ++j) acc[i][j] = kSet ? A(0) : c[i * ldc + n0 + j];
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

}  // namespace kiln::cpu
