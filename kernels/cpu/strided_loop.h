// Iteration over N strided operands of one n-d shape, the loop under every elementwise kernel.
//
// Legend: N operands (operand 0 is usually the output), shape[ndim], strides in BYTES per
// operand. Dims are coalesced first (two adjacent dims merge when every operand steps through
// them as one), so a contiguous tensor of any rank becomes one run. The callback gets the
// operands' addresses at the start of a run, the run length n, and each operand's byte step
// within the run; a step equal to the item size means contiguous, 0 means broadcast.
#pragma once

#include <omp.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <stdexcept>

namespace kiln::cpu {

inline constexpr int kMaxDims = 16;

template <int N>
struct StridedLayout {
  int ndim = 0;
  int64_t shape[kMaxDims];
  int64_t strides[N][kMaxDims];

  StridedLayout(int nd, const int64_t* sh, const std::array<const int64_t*, N>& st) {
    if (nd > kMaxDims) throw std::length_error("kiln: tensors of more than 16 dims are not supported");
    // Drop size-1 dims, then merge dim i into i+1 when contiguous for every operand.
    for (int d = 0; d < nd; ++d) {
      if (sh[d] == 1) continue;
      if (ndim > 0) {
        bool merge = true;
        for (int k = 0; k < N; ++k)
          if (strides[k][ndim - 1] != st[k][d] * sh[d]) merge = false;
        if (merge) {
          shape[ndim - 1] *= sh[d];
          for (int k = 0; k < N; ++k) strides[k][ndim - 1] = st[k][d];
          continue;
        }
      }
      shape[ndim] = sh[d];
      for (int k = 0; k < N; ++k) strides[k][ndim] = st[k][d];
      ++ndim;
    }
    if (ndim == 0) {  // a scalar, or all dims of size 1
      ndim = 1;
      shape[0] = 1;
      for (int k = 0; k < N; ++k) strides[k][0] = 0;
    }
  }

  int64_t numel() const {
    int64_t n = 1;
    for (int d = 0; d < ndim; ++d) n *= shape[d];
    return n;
  }
};

/// Runs fn(ptrs, n, steps) over every run of the elements [begin, end) in row-major order.
template <int N, class F>
void strided_range(const StridedLayout<N>& L, char* const* base, int64_t begin, int64_t end, F&& fn) {
  // Nothing to do, and a tensor with a size-0 dim would divide by zero below.
  if (begin >= end) return;
  const int last = L.ndim - 1;
  const int64_t inner = L.shape[last];
  int64_t idx[kMaxDims];
  int64_t rem = begin;
  for (int d = last; d >= 0; --d) {
    idx[d] = rem % L.shape[d];
    rem /= L.shape[d];
  }
  char* p[N];
  int64_t step[N];
  for (int k = 0; k < N; ++k) {
    int64_t off = 0;
    for (int d = 0; d <= last; ++d) off += idx[d] * L.strides[k][d];
    p[k] = base[k] + off;
    step[k] = L.strides[k][last];
  }
  int64_t pos = begin;
  while (pos < end) {
    int64_t n = std::min(inner - idx[last], end - pos);
    fn(p, n, step);
    pos += n;
    if (pos >= end) break;
    // The run reached the end of the innermost dim: rewind to the row start, carry outward.
    for (int k = 0; k < N; ++k) p[k] -= idx[last] * step[k];
    idx[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      ++idx[d];
      for (int k = 0; k < N; ++k) p[k] += L.strides[k][d];
      if (idx[d] < L.shape[d]) break;
      for (int k = 0; k < N; ++k) p[k] -= idx[d] * L.strides[k][d];
      idx[d] = 0;
    }
  }
}

/// Runs fn over all elements, split into chunks of at least `grain` elements across threads.
template <int N, class F>
void strided_loop(const StridedLayout<N>& L, char* const* base, int threads, F&& fn,
                  int64_t grain = 32768) {
  const int64_t total = L.numel();
  if (total == 0) return;  // a zero-size dim: nothing to visit (and no modulo by 0 below)
  if (threads <= 1 || total < 2 * grain) {
    strided_range<N>(L, base, 0, total, fn);
    return;
  }
  int64_t chunks = std::min<int64_t>(threads, total / grain);
#pragma omp parallel for num_threads(int(chunks)) schedule(static)
  for (int64_t c = 0; c < chunks; ++c) {
    int64_t b = total * c / chunks, e = total * (c + 1) / chunks;
    strided_range<N>(L, base, b, e, fn);
  }
}

}  // namespace kiln::cpu
