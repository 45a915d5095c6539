// Shared plumbing of the optimizer kernels: typed access to a parameter (through its f32
// master copy when it is bf16/f16), state pointers, and the elementwise parallel loop.
#pragma once

#include <omp.h>

#include <cstdint>
#include <type_traits>

#include "core/base/threads.h"
#include "core/train/optimizer.h"
#include "kernels/cpu/convert.h"

namespace kiln::optimizers {

/// Parameter elements of storage type T, computed in A (acc_t<T>). When T is a half type the
/// values live in `master` (f32) and p holds their rounding.
template <class T, class A>
struct ParamView {
  T* p = nullptr;
  A* master = nullptr;
  static constexpr bool kHasMaster = !std::is_same_v<T, A>;

  A load(int64_t i) const {
    if constexpr (kHasMaster)
      return master[i];
    else
      return p[i];
  }
  void store(int64_t i, A x) const {
    if constexpr (kHasMaster) master[i] = x;
    p[i] = cpu::cast_value<T>(x);
  }
};

/// Calls f(view, grad_ptr) with the typed ParamView of p and its gradient's data.
template <class F>
void dispatch_param(const char* opt, const Tensor& p, const Tensor& grad, train::ParamState& s,
                    F&& f) {
  dispatch_floating(p.dtype(), opt, [&](auto tag) {
    using T = typename decltype(tag)::type;
    using A = acc_t<T>;
    ParamView<T, A> view{p.data<T>(), nullptr};
    if constexpr (ParamView<T, A>::kHasMaster)
      view.master = s.tensors.at("master").template data<A>();
    f(view, grad.data<T>());
  });
}

/// body(begin, end) over [0, n), split into one contiguous range per thread of kiln's. Each
/// element is independent, so results do not depend on the thread count; the body's loop is
/// a plain `omp simd` loop over its range, which the compiler vectorises.
template <class F>
void parallel_ranges(int64_t n, F&& body) {
  const int threads = n >= 32768 ? num_threads() : 1;
#pragma omp parallel num_threads(threads)
  {
    const int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
    body(n * t / nt, n * (t + 1) / nt);
  }
}

}  // namespace kiln::optimizers
