#include "core/train/clip.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/ops/elementwise.h"
#include "kernels/cpu/convert.h"

namespace kiln::train {

namespace {

constexpr int64_t kChunk = 4096;

// Sum of squares of x[b, e): partial sums in vector lanes (a fixed order, decided at compile time).
template <class T>
double sum_squares(const T* x, int64_t b, int64_t e) {
  double s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = b; i < e; ++i) {
    const double v = cpu::cast_value<double>(x[i]);
    s += v * v;
  }
  return s;
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
  // Every gradient cut into fixed chunks of kChunk values; one parallel loop over all the
  // chunks (most parameters are too small to be worth threads of their own), and the chunk
  // sums added in order: the result does not depend on the thread count.
  struct Chunk {
    size_t grad;
    int64_t begin, end;
  };
  std::vector<Tensor> grads;
  std::vector<Chunk> chunks;
  for (const Tensor& p : params) {
    Tensor g = p.grad();
    if (!g.defined()) continue;
    grads.push_back(g.to(Device::cpu()).contiguous());
    const int64_t n = grads.back().numel();
    for (int64_t b = 0; b < n; b += kChunk)
      chunks.push_back({grads.size() - 1, b, std::min(n, b + kChunk)});
  }
  std::vector<double> part(chunks.size());
  const int64_t nc = int64_t(chunks.size());
  std::exception_ptr error;
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (nc > 16)
  for (int64_t c = 0; c < nc; ++c) {
    const Chunk& k = chunks[size_t(c)];
    const Tensor& g = grads[k.grad];
    try {
      part[size_t(c)] = dispatch_floating(g.dtype(), "grad_norm", [&](auto tag) {
        using T = typename decltype(tag)::type;
        return sum_squares(g.data<T>(), k.begin, k.end);
      });
    } catch (...) {
#pragma omp critical
      error = std::current_exception();
    }
  }
  if (error) std::rethrow_exception(error);
  double total = 0;
  for (double s : part) total += s;
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
