// CPU kernels of the norm family (kernels/cpu/norm.h).
#include "core/base/threads.h"
#include "core/ops/cpu/register.h"
#include "core/ops/norm_kernels.h"
#include "kernels/cpu/norm.h"

namespace kiln::ops::cpu {
namespace {

template <class T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
template <class T>
T* mutable_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}

template <class T>
void layer_norm_cpu(const Tensor& out, const Tensor& mean, const Tensor& rstd, const Tensor& x,
                    const Tensor& weight, const Tensor& bias, double eps) {
  using S = acc_t<T>;
  const int64_t C = x.size(-1), N = C > 0 ? x.numel() / C : 0;
  kiln::cpu::layernorm_forward(out.data<T>(), mean.data<S>(), rstd.data<S>(), x.data<T>(),
                               data_or_null<T>(weight), data_or_null<T>(bias), N, C, eps,
                               num_threads());
}

template <class T>
void rms_norm_cpu(const Tensor& out, const Tensor& rstd, const Tensor& x, const Tensor& weight,
                  double eps) {
  using S = acc_t<T>;
  const int64_t C = x.size(-1), N = C > 0 ? x.numel() / C : 0;
  kiln::cpu::rmsnorm_forward(out.data<T>(), rstd.data<S>(), x.data<T>(), data_or_null<T>(weight), N,
                             C, eps, num_threads());
}

template <class T>
void norm_backward_cpu(const Tensor& dx, const Tensor& dweight, const Tensor& dbias,
                       const Tensor& dout, const Tensor& x, const Tensor& weight,
                       const Tensor& mean, const Tensor& rstd) {
  using S = acc_t<T>;
  const int64_t C = x.size(-1), N = C > 0 ? x.numel() / C : 0;
  kiln::cpu::norm_backward(mutable_or_null<T>(dx), mutable_or_null<T>(dweight),
                           mutable_or_null<T>(dbias), dout.data<T>(), x.data<T>(),
                           data_or_null<T>(weight), data_or_null<S>(mean), rstd.data<S>(), N, C,
                           num_threads());
}

template <class T>
void add() {
  layer_norm_kernels.set(Device::Type::cpu, dtype_v<T>, &layer_norm_cpu<T>);
  rms_norm_kernels.set(Device::Type::cpu, dtype_v<T>, &rms_norm_cpu<T>);
  norm_backward_kernels.set(Device::Type::cpu, dtype_v<T>, &norm_backward_cpu<T>);
}

}  // namespace

void register_norm() {
  add<double>();
  add<float>();
  add<bf16>();
  add<f16>();
}

}  // namespace kiln::ops::cpu
