// Kernel table of the matrix-product family.
#pragma once

#include <vector>

#include "core/ops/dispatch.h"
#include "core/tensor/tensor.h"

namespace kiln::ops {

/// out [..., M, N] = a [..., M, K] @ b [..., K, N]. The op hands over a and b already broadcast
/// to out's batch dims (zero strides where broadcast) and transposed through their strides;
/// each operand's matrix dims have a unit stride in one of them, the other at least the extent
/// it steps over (the op copies anything else). out is contiguous; M, N, K >= 1. bias, when
/// defined, is N contiguous values added to every row of out.
using MatmulKernel = void(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias);

inline constinit KernelTable<MatmulKernel> matmul_kernels{"matmul"};

/// One batch dim of a matmul: its size and the strides of a, b and out (elements).
struct BatchDim {
  int64_t size, a, b, c;
};

/// The batch dims of (out, a, b) with size-1 dims dropped and neighbours merged where all three
/// step through them as one: a contiguous or uniformly broadcast batch becomes one dim. Every
/// backend's kernel hands the innermost to its batched GEMM and loops over the rest.
inline std::vector<BatchDim> coalesced_batch(const Tensor& out, const Tensor& a, const Tensor& b) {
  std::vector<BatchDim> dims;
  for (int64_t d = 0; d + 2 < out.dim(); ++d) {
    BatchDim x{out.size(d), a.stride(d), b.stride(d), out.stride(d)};
    if (x.size == 1) continue;
    if (!dims.empty()) {
      BatchDim& p = dims.back();
      if (p.a == x.a * x.size && p.b == x.b * x.size && p.c == x.c * x.size) {
        p = BatchDim{p.size * x.size, x.a, x.b, x.c};
        continue;
      }
    }
    dims.push_back(x);
  }
  return dims;
}

/// Calls f(offset_a, offset_b, offset_c) (elements) for every index of the batch dims `dims`.
template <class F>
void for_each_batch(const std::vector<BatchDim>& dims, F&& f) {
  int64_t outer = 1;
  for (const BatchDim& d : dims) outer *= d.size;
  for (int64_t i = 0; i < outer; ++i) {
    int64_t rem = i, oa = 0, ob = 0, oc = 0;
    for (size_t d = dims.size(); d-- > 0;) {
      const int64_t idx = rem % dims[d].size;
      rem /= dims[d].size;
      oa += idx * dims[d].a, ob += idx * dims[d].b, oc += idx * dims[d].c;
    }
    f(oa, ob, oc);
  }
}

}  // namespace kiln::ops
