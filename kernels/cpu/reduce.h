// Reductions, arg-reductions and prefix sums over the middle dim of a contiguous
// [outer, R, inner] block.
//
// Legend: outer, R (the reduced extent), inner; x is contiguous, out is [outer, inner].
// Work is split into fixed chunks of R (kChunk rows), never by thread count, and partial
// results are merged in chunk order: the result is the same for any number of threads.
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>
#include <limits>
#include <vector>

#include "core/tensor/dtype.h"
#include "kernels/cpu/convert.h"

namespace kiln::cpu {

inline constexpr int64_t kReduceChunk = 4096;
inline constexpr int64_t kReduceColumns = 256;  // columns a task accumulates when inner > 1

/// R: a reducer with `using Acc`, `Acc init()`, `Acc step(Acc, Acc x)`, `Acc merge(Acc, Acc)`,
/// and `Out finish(Acc)`. T is the input storage type, O the output storage type.
template <class T, class O, class R>
void reduce_middle(O* out, const T* x, int64_t outer, int64_t rows, int64_t inner, const R& red, int threads) {
  using Acc = typename R::Acc;
  const int64_t nchunks = std::max<int64_t>(1, (rows + kReduceChunk - 1) / kReduceChunk);
  if (inner == 1) {
    // Row reductions: each output reduces a contiguous row, in chunks.
    auto row = [&](int64_t o) {
      const T* p = x + o * rows;
      Acc total = red.init();
      for (int64_t c = 0; c < nchunks; ++c) {
        int64_t b = c * kReduceChunk, e = std::min(rows, b + kReduceChunk);
        Acc a = red.init();
        for (int64_t r = b; r < e; ++r) a = red.step(a, cast_value<Acc>(p[r]));
        total = c == 0 ? a : red.merge(total, a);
      }
      out[o] = cast_value<O>(red.finish(total));
    };
    if (outer >= threads || nchunks == 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * rows > 32768)
      for (int64_t o = 0; o < outer; ++o) row(o);
    } else {
      // Few long rows: chunks in parallel, merged in order.
      std::vector<Acc> part(static_cast<size_t>(outer * nchunks));
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2)
      for (int64_t o = 0; o < outer; ++o)
        for (int64_t c = 0; c < nchunks; ++c) {
          const T* p = x + o * rows;
          int64_t b = c * kReduceChunk, e = std::min(rows, b + kReduceChunk);
          Acc a = red.init();
          for (int64_t r = b; r < e; ++r) a = red.step(a, cast_value<Acc>(p[r]));
          part[size_t(o * nchunks + c)] = a;
        }
      for (int64_t o = 0; o < outer; ++o) {
        Acc total = part[size_t(o * nchunks)];
        for (int64_t c = 1; c < nchunks; ++c) total = red.merge(total, part[size_t(o * nchunks + c)]);
        out[o] = cast_value<O>(red.finish(total));
      }
    }
    return;
  }
  // Column reductions: accumulate rows of up to kReduceColumns values at a time (vectorised),
  // chunked over R. Tasks are (outer, chunk, column block); the column split only spreads the
  // work over threads and does not change any element's order of accumulation.
  const int64_t cblocks = (inner + kReduceColumns - 1) / kReduceColumns;
  const int64_t tasks = outer * nchunks * cblocks;
  std::vector<Acc> part(static_cast<size_t>(outer * nchunks * inner));
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * rows * inner > 32768)
  for (int64_t t = 0; t < tasks; ++t) {
    const int64_t o = t / (nchunks * cblocks), c = (t / cblocks) % nchunks, ib = t % cblocks;
    const int64_t i0 = ib * kReduceColumns, i1 = std::min(inner, i0 + kReduceColumns);
    Acc* acc = part.data() + (o * nchunks + c) * inner;
    for (int64_t i = i0; i < i1; ++i) acc[i] = red.init();
    int64_t b = c * kReduceChunk, e = std::min(rows, b + kReduceChunk);
    for (int64_t r = b; r < e; ++r) {
      const T* p = x + (o * rows + r) * inner;
      for (int64_t i = i0; i < i1; ++i) acc[i] = red.step(acc[i], cast_value<Acc>(p[i]));
    }
  }
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * inner > 32768)
  for (int64_t o = 0; o < outer; ++o) {
    Acc* first = part.data() + o * nchunks * inner;
    for (int64_t c = 1; c < nchunks; ++c) {
      const Acc* a = first + c * inner;
      for (int64_t i = 0; i < inner; ++i) first[i] = red.merge(first[i], a[i]);
    }
    for (int64_t i = 0; i < inner; ++i) out[o * inner + i] = cast_value<O>(red.finish(first[i]));
  }
}

template <class A>
struct SumReducer {
  using Acc = A;
  A init() const { return A(0); }
  A step(A a, A x) const { return a + x; }
  A merge(A a, A b) const { return a + b; }
  A finish(A a) const { return a; }
};

template <class A>
struct MaxReducer {
  using Acc = A;
  A init() const { return std::numeric_limits<A>::has_infinity ? -std::numeric_limits<A>::infinity() : std::numeric_limits<A>::lowest(); }
  A step(A a, A x) const { return (x > a || x != x) ? x : a; }  // NaN wins
  A merge(A a, A b) const { return step(a, b); }
  A finish(A a) const { return a; }
};

template <class A>
struct MinReducer {
  using Acc = A;
  A init() const { return std::numeric_limits<A>::has_infinity ? std::numeric_limits<A>::infinity() : std::numeric_limits<A>::max(); }
  A step(A a, A x) const { return (x < a || x != x) ? x : a; }
  A merge(A a, A b) const { return step(a, b); }
  A finish(A a) const { return a; }
};

/// out[o, i] = the index j of the largest (kMax) or smallest x[o, j, i]: the first one at ties,
/// and a NaN beats every number (the first NaN wins), as in PyTorch. rows must be >= 1.
template <bool kMax, class T>
void arg_reduce_middle(int64_t* out, const T* x, int64_t outer, int64_t rows, int64_t inner, int threads) {
  using A = acc_t<T>;
  auto better = [](A v, A best) {  // strictly better, so the earlier index stays at ties
    if constexpr (is_floating(dtype_v<T>)) {
      if (best != best) return false;
      if (v != v) return true;
    }
    return kMax ? v > best : v < best;
  };
  if (inner == 1) {
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * rows > 32768)
    for (int64_t o = 0; o < outer; ++o) {
      const T* p = x + o * rows;
      A best = cast_value<A>(p[0]);
      int64_t at = 0;
      for (int64_t r = 1; r < rows; ++r) {
        A v = cast_value<A>(p[r]);
        if (better(v, best)) {
          best = v;
          at = r;
        }
      }
      out[o] = at;
    }
    return;
  }
  const int64_t cblocks = (inner + kReduceColumns - 1) / kReduceColumns;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * rows * inner > 32768)
  for (int64_t t = 0; t < outer * cblocks; ++t) {
    const int64_t o = t / cblocks, i0 = (t % cblocks) * kReduceColumns;
    const int64_t w = std::min(kReduceColumns, inner - i0);
    A best[kReduceColumns];
    int64_t at[kReduceColumns];
    const T* base = x + o * rows * inner + i0;
    for (int64_t i = 0; i < w; ++i) {
      best[i] = cast_value<A>(base[i]);
      at[i] = 0;
    }
    for (int64_t r = 1; r < rows; ++r) {
      const T* p = base + r * inner;
      for (int64_t i = 0; i < w; ++i) {
        A v = cast_value<A>(p[i]);
        if (better(v, best[i])) {
          best[i] = v;
          at[i] = r;
        }
      }
    }
    for (int64_t i = 0; i < w; ++i) out[o * inner + i0 + i] = at[i];
  }
}

/// Inclusive prefix sums along the middle dim: out[o, j, i] = sum_{j' <= j} x[o, j', i], or
/// the suffix sums sum_{j' >= j} when `reverse` (the gradient of a prefix sum). Accumulates in
/// acc_t<T> (i64 for integers, which O must then be) in index order, one line per thread.
template <class T, class O>
void cumsum_middle(O* out, const T* x, int64_t outer, int64_t rows, int64_t inner, bool reverse, int threads) {
  using A = acc_t<T>;
  const int64_t cblocks = (inner + kReduceColumns - 1) / kReduceColumns;
#pragma omp parallel for num_threads(threads) schedule(static) if (outer * rows * inner > 32768)
  for (int64_t t = 0; t < outer * cblocks; ++t) {
    const int64_t o = t / cblocks, i0 = (t % cblocks) * kReduceColumns;
    const int64_t w = std::min(kReduceColumns, inner - i0);
    A acc[kReduceColumns] = {};
    for (int64_t s = 0; s < rows; ++s) {
      const int64_t r = reverse ? rows - 1 - s : s;
      const int64_t k = (o * rows + r) * inner + i0;
      for (int64_t i = 0; i < w; ++i) {
        acc[i] += cast_value<A>(x[k + i]);
        out[k + i] = cast_value<O>(acc[i]);
      }
    }
  }
}

}  // namespace kiln::cpu
