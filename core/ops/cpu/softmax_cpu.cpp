// CPU kernels of the softmax family, prefix sums and top-k.
#include "core/base/threads.h"
#include "core/ops/cpu/register.h"
#include "core/ops/reduce_kernels.h"
#include "core/ops/softmax_kernels.h"
#include "kernels/cpu/reduce.h"
#include "kernels/cpu/softmax.h"
#include "kernels/cpu/topk.h"

namespace kiln::ops::cpu {
namespace {

template <class T>
void softmax_cpu(const Tensor& y, const Tensor& x, int64_t outer, int64_t n, int64_t inner,
                 bool log) {
  kiln::cpu::softmax_forward(y.data<T>(), x.data<T>(), outer, n, inner, log, num_threads());
}

template <class T>
void softmax_grad_cpu(const Tensor& dx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n,
                      int64_t inner, bool log) {
  kiln::cpu::softmax_backward(dx.data<T>(), g.data<T>(), y.data<T>(), outer, n, inner, log,
                              num_threads());
}

template <class T>
void logsumexp_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t n, int64_t inner) {
  kiln::cpu::logsumexp_forward(out.data<T>(), x.data<T>(), outer, n, inner, num_threads());
}

template <class T>
void cumsum_cpu(const Tensor& out, const Tensor& x, int64_t outer, int64_t rows, int64_t inner,
                bool reverse) {
  if constexpr (is_floating(dtype_v<T>)) {
    kiln::cpu::cumsum_middle(out.data<T>(), x.data<T>(), outer, rows, inner, reverse,
                             num_threads());
  } else {
    kiln::cpu::cumsum_middle(out.data<int64_t>(), x.data<T>(), outer, rows, inner, reverse,
                             num_threads());
  }
}

template <class T>
void topk_cpu(const Tensor& values, const Tensor& indices, const Tensor& x, int64_t k, bool largest,
              bool sorted) {
  const int64_t n = x.size(-1), rows = n == 0 ? 0 : x.numel() / n;
  kiln::cpu::topk_rows(values.data<T>(), indices.data<int64_t>(), x.data<T>(), rows, n, k, largest,
                       sorted, num_threads());
}

template <class T>
void topk_grad_cpu(const Tensor& dx, const Tensor& g, const Tensor& indices) {
  const int64_t n = dx.size(-1), k = g.size(-1), rows = n == 0 ? 0 : dx.numel() / n;
  kiln::cpu::topk_backward_rows(dx.data<T>(), g.data<T>(), indices.data<int64_t>(), rows, n, k,
                                num_threads());
}

template <class T>
void add_floating() {
  constexpr DType t = dtype_v<T>;
  softmax_kernels.set(Device::Type::cpu, t, &softmax_cpu<T>);
  softmax_grad_kernels.set(Device::Type::cpu, t, &softmax_grad_cpu<T>);
  logsumexp_kernels.set(Device::Type::cpu, t, &logsumexp_cpu<T>);
  topk_grad_kernels.set(Device::Type::cpu, t, &topk_grad_cpu<T>);
}

template <class T>
void add_numeric() {
  constexpr DType t = dtype_v<T>;
  cumsum_kernels.set(Device::Type::cpu, t, &cumsum_cpu<T>);
  topk_kernels.set(Device::Type::cpu, t, &topk_cpu<T>);
}

}  // namespace

void register_softmax() {
  add_floating<double>();
  add_floating<float>();
  add_floating<bf16>();
  add_floating<f16>();
  add_numeric<double>();
  add_numeric<float>();
  add_numeric<bf16>();
  add_numeric<f16>();
  add_numeric<int32_t>();
  add_numeric<int64_t>();
  add_numeric<uint8_t>();
  add_numeric<bool>();
}

}  // namespace kiln::ops::cpu
