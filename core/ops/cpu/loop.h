// Runs a strided kernel over tensors that share one shape (the first operand's).
#pragma once

#include <array>

#include "core/base/threads.h"
#include "core/tensor/tensor.h"
#include "kernels/cpu/strided_loop.h"

namespace kiln::ops::cpu {

/// fn(char* const* ptrs, int64_t n, const int64_t* byte_steps) over every run of elements.
template <int N, class F>
void for_each_run(const std::array<const Tensor*, N>& ts, F&& fn, int64_t grain = 32768) {
  const Shape& shape = ts[0]->shape();
  const int nd = int(shape.size());
  std::array<Strides, N> bytes;
  std::array<const int64_t*, N> sp;
  std::array<char*, N> base;
  for (int k = 0; k < N; ++k) {
    const Tensor& t = *ts[k];
    KILN_CHECK(t.shape() == shape, "internal: operand ", k, " of shape ", t.shape(), " is not broadcast to ", shape);
    bytes[k].resize(size_t(nd));
    for (int d = 0; d < nd; ++d) bytes[k][size_t(d)] = t.strides()[size_t(d)] * int64_t(t.itemsize());
    sp[k] = bytes[k].data();
    base[k] = static_cast<char*>(t.data_ptr());
  }
  kiln::cpu::StridedLayout<N> layout(nd, shape.data(), sp);
  kiln::cpu::strided_loop<N>(layout, base.data(), num_threads(), fn, grain);
}

}  // namespace kiln::ops::cpu
