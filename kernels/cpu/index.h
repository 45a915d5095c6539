// Index kernels: bounds checks, row selection (index_select, embedding) and its adjoint
// (index_add), and the per-element gather / scatter-add along one dim.
//
// Legend:
//   I          the index type (int32_t or int64_t); indices reach these kernels already checked
//   T          the element type; A = acc_t<T> where arithmetic is done
//   outer, V, inner   a contiguous [outer, V, inner] block whose middle dim is indexed
//   n          the number of indices
//   len        the extent of the indexed dim in gather / scatter-add
//
// Determinism: index_add and scatter_add are sums. Both are parallelised only over positions
// that receive disjoint sets of writes (column blocks of index_add, the non-indexed coordinates
// of scatter-add), and each position adds its contributions in index order j = 0, 1, ...; the
// result is bitwise the same for every thread count.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <limits>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"

namespace kiln::cpu {

inline constexpr int64_t kIndexCheckBlock = 4096;

/// Position (row-major) of the first idx[p] outside [0, size) that is not `skip` (when
/// has_skip), or -1 when there is none. Blocks are scanned in parallel; the smallest hit wins.
template <class I>
int64_t find_bad_index(const I* idx, int64_t n, int64_t size, bool has_skip, int64_t skip,
                       int threads) {
  const int64_t blocks = (n + kIndexCheckBlock - 1) / kIndexCheckBlock;
  int64_t first = std::numeric_limits<int64_t>::max();
#pragma omp parallel for num_threads(threads) schedule(static) reduction(min : first) if (n > 65536)
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t e = std::min(n, (b + 1) * kIndexCheckBlock);
    for (int64_t p = b * kIndexCheckBlock; p < e; ++p) {
      const int64_t v = int64_t(idx[p]);
      if ((v < 0 || v >= size) && !(has_skip && v == skip)) {
        first = std::min(first, p);
        break;
      }
    }
  }
  return first == std::numeric_limits<int64_t>::max() ? -1 : first;
}

/// out[o, j, :] = x[o, idx[j], :]. out [outer, n, inner], x [outer, V, inner], contiguous.
/// A row copy per (o, j): embedding is outer = 1, inner = D.
template <class T, class I>
void index_select_rows(T* out, const T* x, const I* idx, int64_t outer, int64_t V, int64_t n,
                       int64_t inner, int threads) {
  const int64_t tasks = outer * n;
#pragma omp parallel for num_threads(threads) schedule(static) if (tasks * inner > 32768)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / n, j = t % n;
    std::memcpy(out + t * inner, x + (o * V + int64_t(idx[j])) * inner, size_t(inner) * sizeof(T));
  }
}

/// The adjoint of index_select_rows: dx[o, idx[j], :] += g[o, j, :], dx [outer, V, inner],
/// g [outer, n, inner]. Repeated ids make this a sum, so the work is split by (o, block of
/// columns) — disjoint outputs — and every block walks j in order: deterministic. For an
/// embedding (outer = 1) the threads share out the embedding dim.
template <class T, class I>
void index_add_rows(T* dx, const T* g, const I* idx, int64_t outer, int64_t V, int64_t n,
                    int64_t inner, int threads) {
  using A = acc_t<T>;
  constexpr int64_t kCols = 64;  // 256 bytes of f32: a few cache lines per row touched
  const int64_t col_blocks = (inner + kCols - 1) / kCols;
  const int64_t tasks = outer * col_blocks;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * n * inner > 32768)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / col_blocks, c0 = (t % col_blocks) * kCols,
                  c1 = std::min(inner, c0 + kCols);
    for (int64_t j = 0; j < n; ++j) {
      T* d = dx + (o * V + int64_t(idx[j])) * inner;
      const T* s = g + (o * n + j) * inner;
      for (int64_t c = c0; c < c1; ++c)
        d[c] = cast_value<T>(cast_value<A>(d[c]) + cast_value<A>(s[c]));
    }
  }
}

/// Byte steps along the indexed dim, for gather_run and scatter_add_run.
struct DimSteps {
  int64_t len;  ///< extent of the index along dim
  int64_t out;  ///< step of the output (gather) or destination (scatter) along dim
  int64_t in;   ///< step of the source along dim
  int64_t idx;  ///< step of the index along dim
};

/// One run of n positions over the non-indexed coordinates (byte steps s_out, s_in, s_idx
/// between positions). At each position k and each j < len:
///   out[k, j] = in[k, idx[k, j]]          (the source's own step along dim is steps.in)
/// j is the outer loop so that a run over the last dim reads rows of `in` contiguously.
template <class T, class I>
inline void gather_run(char* out, const char* in, const char* idx, int64_t n, int64_t s_out,
                       int64_t s_in, int64_t s_idx, const DimSteps& steps) {
  for (int64_t j = 0; j < steps.len; ++j) {
    char* o = out + j * steps.out;
    const char* ip = idx + j * steps.idx;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = int64_t(*reinterpret_cast<const I*>(ip + k * s_idx));
      *reinterpret_cast<T*>(o + k * s_out) =
          *reinterpret_cast<const T*>(in + k * s_in + v * steps.in);
    }
  }
}

/// One run of n positions: out[k, idx[k, j]] += src[k, j] for j = 0, 1, ..., len - 1 in order.
/// Different positions k write different outputs (they differ off the indexed dim), so runs may
/// go to different threads; the order of the adds at one output is always j order. Here
/// steps.out is the destination's step along dim and steps.in the source's.
template <class T, class I>
inline void scatter_add_run(char* out, const char* src, const char* idx, int64_t n, int64_t s_out,
                            int64_t s_src, int64_t s_idx, const DimSteps& steps) {
  using A = acc_t<T>;
  for (int64_t j = 0; j < steps.len; ++j) {
    const char* sp = src + j * steps.in;
    const char* ip = idx + j * steps.idx;
    for (int64_t k = 0; k < n; ++k) {
      const int64_t v = int64_t(*reinterpret_cast<const I*>(ip + k * s_idx));
      T* d = reinterpret_cast<T*>(out + k * s_out + v * steps.out);
      *d = cast_value<T>(cast_value<A>(*d) +
                         cast_value<A>(*reinterpret_cast<const T*>(sp + k * s_src)));
    }
  }
}

}  // namespace kiln::cpu
