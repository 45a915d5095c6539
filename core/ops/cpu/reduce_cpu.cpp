// CPU kernels of the reduction family: reductions and arg-reductions.
#include "core/base/threads.h"
#include "core/ops/cpu/register.h"
#include "core/ops/reduce_kernels.h"
#include "kernels/cpu/reduce.h"

namespace kiln::ops::cpu {
namespace {

using namespace kiln::cpu;

template <class T>
void reduce_cpu(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows, int64_t inner) {
  using A = acc_t<T>;
  const T* xp = x.data<T>();
  const int threads = num_threads();
  auto run = [&](auto* o, const auto& red) { reduce_middle(o, xp, outer, rows, inner, red, threads); };
  switch (op) {
    case ReduceOp::sum:
      if constexpr (is_floating(dtype_v<T>)) run(out.data<T>(), SumReducer<A>{});
      else run(out.data<int64_t>(), SumReducer<int64_t>{});
      break;
    case ReduceOp::max: run(out.data<T>(), MaxReducer<A>{}); break;
    case ReduceOp::min: run(out.data<T>(), MinReducer<A>{}); break;
  }
}

template <class T>
void arg_reduce_cpu(bool is_max, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows, int64_t inner) {
  if (is_max) arg_reduce_middle<true>(out.data<int64_t>(), x.data<T>(), outer, rows, inner, num_threads());
  else arg_reduce_middle<false>(out.data<int64_t>(), x.data<T>(), outer, rows, inner, num_threads());
}

template <class T>
void add() {
  reduce_kernels.set(Device::Type::cpu, dtype_v<T>, &reduce_cpu<T>);
  arg_reduce_kernels.set(Device::Type::cpu, dtype_v<T>, &arg_reduce_cpu<T>);
}

}  // namespace

void register_reduce() {
  add<double>();
  add<float>();
  add<bf16>();
  add<f16>();
  add<int32_t>();
  add<int64_t>();
  add<uint8_t>();
  add<bool>();
}

}  // namespace kiln::ops::cpu
