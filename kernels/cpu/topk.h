// Top-k selection along the last dim of a contiguous [rows, n] block, and its gradient.
//
// Legend: rows, n (the selected-from extent), k <= n; values and indices are [rows, k].
// Order: NaN counts as larger than every number (as in PyTorch: first when largest, last when
// smallest), equal values rank by index (the earlier first), so the order is total and the
// result deterministic. Sorted output is in
// rank order; unsorted output keeps the selected elements in index order.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <numeric>
#include <vector>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"

namespace kiln::cpu {

template <class T>
void topk_rows(T* values, int64_t* indices, const T* x, int64_t rows, int64_t n, int64_t k,
               bool largest, bool sorted, int threads) {
  using A = acc_t<T>;
#pragma omp parallel num_threads(threads) if (rows * n > 32768)
  {
    std::vector<A> v(static_cast<size_t>(n));
    std::vector<int64_t> idx(static_cast<size_t>(n));
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; ++r) {
      const T* xr = x + r * n;
      for (int64_t j = 0; j < n; ++j) v[size_t(j)] = cast_value<A>(xr[j]);
      std::iota(idx.begin(), idx.end(), int64_t(0));
      // greater(a, b): a > b with NaN greater than every number (and NaNs equal).
      auto greater = [](A a, A b) {
        if constexpr (is_floating(dtype_v<T>)) {
          if (a != a) return b == b;
          if (b != b) return false;
        }
        return a > b;
      };
      // above(a, b): a ranks above b by value alone.
      auto above = [&](A a, A b) { return largest ? greater(a, b) : greater(b, a); };
      auto before = [&](int64_t a, int64_t b) {
        A va = v[size_t(a)], vb = v[size_t(b)];
        if (above(va, vb)) return true;
        if (above(vb, va)) return false;
        return a < b;
      };
      auto kth = idx.begin() + k;
      if (sorted) {
        std::partial_sort(idx.begin(), kth, idx.end(), before);
      } else {
        std::nth_element(idx.begin(), kth, idx.end(), before);
        std::sort(idx.begin(), kth);
      }
      for (int64_t j = 0; j < k; ++j) {
        const int64_t at = idx[size_t(j)];
        values[r * k + j] = xr[at];
        indices[r * k + j] = at;
      }
    }
  }
}

/// dx[r, indices[r, j]] = g[r, j] into a zeroed dx [rows, n]: the indices of a row are
/// distinct, so this is a plain scatter.
template <class T>
void topk_backward_rows(T* dx, const T* g, const int64_t* indices, int64_t rows, int64_t n,
                        int64_t k, int threads) {
#pragma omp parallel for num_threads(threads) schedule(static) if (rows * k > 32768)
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t j = 0; j < k; ++j) dx[r * n + indices[r * k + j]] = g[r * k + j];
}

}  // namespace kiln::cpu
