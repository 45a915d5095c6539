// Reductions over the middle dim of a contiguous [outer, R, inner] block.
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
  // Column reductions: accumulate whole rows of `inner` values (vectorised), chunked over R.
  std::vector<Acc> part(static_cast<size_t>(outer * nchunks * inner));
#pragma omp parallel for num_threads(threads) schedule(static) collapse(2) if (outer * rows * inner > 32768)
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t c = 0; c < nchunks; ++c) {
      Acc* acc = part.data() + (o * nchunks + c) * inner;
      for (int64_t i = 0; i < inner; ++i) acc[i] = red.init();
      int64_t b = c * kReduceChunk, e = std::min(rows, b + kReduceChunk);
      for (int64_t r = b; r < e; ++r) {
        const T* p = x + (o * rows + r) * inner;
        for (int64_t i = 0; i < inner; ++i) acc[i] = red.step(acc[i], cast_value<Acc>(p[i]));
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

}  // namespace kiln::cpu
