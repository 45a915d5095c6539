#include "core/train/clip.h"

#include <algorithm>
#include <cmath>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/ops/elementwise.h"
#include "kernels/cpu/convert.h"

namespace kiln::train {

namespace {

constexpr int64_t kChunk = 4096;

// Sum of squares of n contiguous values: chunk partials (parallel) added in chunk order.
template <class T>
double sum_squares(const T* x, int64_t n) {
  const int64_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(static_cast<size_t>(chunks));
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n > 65536)
  for (int64_t c = 0; c < chunks; ++c) {
    // The reduction clause lets the compiler keep several partial sums in vector lanes (a
    // fixed order, decided at compile time, so still the same for every thread count).
    double s = 0;
    const int64_t b = c * kChunk, e = std::min(n, b + kChunk);
#pragma omp simd reduction(+ : s)
    for (int64_t i = b; i < e; ++i) {
      const double v = cpu::cast_value<double>(x[i]);
      s += v * v;
    }
    part[size_t(c)] = s;
  }
  double total = 0;
  for (double s : part) total += s;
  return total;
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
  double total = 0;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    g = g.to(Device::cpu()).contiguous();
    total += dispatch_floating(g.dtype(), "grad_norm", [&](auto tag) {
      using T = typename decltype(tag)::type;
      return sum_squares(g.data<T>(), g.numel());
    });
  }
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  KILN_CHECK(max_norm >= 0, "clip_grad_norm: max_norm must be >= 0, got ", max_norm);
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;
  autograd::NoGrad no_grad;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    if (g.is_contiguous())
      ops::mul_(g, coef);
    else
      p.set_grad(ops::mul(g, coef).contiguous());
  }
  return norm;
}

}  // namespace kiln::train
