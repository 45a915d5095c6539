// CPU kernels of the loss family (kernels/cpu/cross_entropy.h).
#include "core/base/threads.h"
#include "core/ops/cpu/register.h"
#include "core/ops/loss_kernels.h"
#include "kernels/cpu/cross_entropy.h"

namespace kiln::ops::cpu {
namespace {

template <class F>
void with_target_type(const Tensor& target, F&& f) {
  if (target.dtype() == DType::i32)
    f(TypeTag<int32_t>{});
  else if (target.dtype() == DType::i64)
    f(TypeTag<int64_t>{});
  else
    KILN_FAIL("internal: target of dtype ", dtype_name(target.dtype()), " reached cross_entropy");
}

template <class T>
int64_t cross_entropy_cpu(const Tensor& loss, const Tensor& lse, const Tensor& logits,
                          const Tensor& target, int64_t ignore_index, double smoothing) {
  using S = acc_t<T>;
  const int64_t C = logits.size(-1), N = target.numel();
  int64_t count = 0;
  with_target_type(target, [&](auto tt) {
    using I = typename decltype(tt)::type;
    count = kiln::cpu::cross_entropy_forward(loss.data<S>(), lse.data<S>(), logits.data<T>(),
                                             target.data<I>(), N, C, ignore_index, smoothing,
                                             num_threads());
  });
  return count;
}

template <class T>
void cross_entropy_backward_cpu(const Tensor& dlogits, const Tensor& grad, double scale,
                                const Tensor& logits, const Tensor& lse, const Tensor& target,
                                int64_t ignore_index, double smoothing) {
  using S = acc_t<T>;
  const int64_t C = logits.size(-1), N = target.numel();
  const int64_t grad_step = grad.dim() == 0 ? 0 : 1;
  with_target_type(target, [&](auto tt) {
    using I = typename decltype(tt)::type;
    kiln::cpu::cross_entropy_backward(dlogits.data<T>(), grad.data<S>(), grad_step, scale,
                                      logits.data<T>(), lse.data<S>(), target.data<I>(), N, C,
                                      ignore_index, smoothing, num_threads());
  });
}

template <class T>
void add() {
  cross_entropy_kernels.set(Device::Type::cpu, dtype_v<T>, &cross_entropy_cpu<T>);
  cross_entropy_backward_kernels.set(Device::Type::cpu, dtype_v<T>, &cross_entropy_backward_cpu<T>);
}

}  // namespace

void register_loss() {
  add<double>();
  add<float>();
  add<bf16>();
  add<f16>();
}

}  // namespace kiln::ops::cpu
