// softmax, log_softmax and logsumexp: fused kernels over [outer, n, inner] views of a
// contiguous input, with fused backward for the two softmaxes.
#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/ops/softmax_kernels.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

using autograd::NeedsGrad;

namespace {

void check_floating(const Tensor& x, const char* op) {
  KILN_CHECK(is_floating(x.dtype()), op, ": expected a floating tensor, got ",
             dtype_name(x.dtype()), " with shape ", x.shape());
}

// Product of the sizes of dims [begin, end).
int64_t span(const Shape& s, int64_t begin, int64_t end) {
  int64_t n = 1;
  for (int64_t i = begin; i < end; ++i) n *= s[size_t(i)];
  return n;
}

Tensor softmax_impl(const Tensor& x, int64_t dim_in, bool log) {
  const char* name = log ? "log_softmax" : "softmax";
  check_floating(x, name);
  const int64_t dim = wrap_dim(dim_in, x.dim(), name);
  const Shape& s = x.shape();
  // A 0-d tensor is a single line of one element.
  const int64_t outer = x.dim() == 0 ? 1 : span(s, 0, dim);
  const int64_t n = x.dim() == 0 ? 1 : s[size_t(dim)];
  const int64_t inner = x.dim() == 0 ? 1 : span(s, dim + 1, x.dim());
  Tensor y = empty(s, x.dtype(), x.device());
  softmax_kernels.get(x.device(), x.dtype(), name)(y, x.detach().contiguous(), outer, n, inner,
                                                   log);
  if (autograd::needs_grad(x)) {
    Tensor yd = y.detach();
    autograd::record(name, {x}, y,
                     [yd, outer, n, inner, log, name](const Tensor& g, const NeedsGrad&) {
                       Tensor dx = empty(g.shape(), g.dtype(), g.device());
                       softmax_grad_kernels.get(g.device(), g.dtype(), name)(dx, g.contiguous(), yd,
                                                                             outer, n, inner, log);
                       return std::vector<Tensor>{dx};
                     });
  }
  return y;
}

}  // namespace

Tensor softmax(const Tensor& x, int64_t dim) {
  return softmax_impl(x, dim, /*log=*/false);
}
Tensor log_softmax(const Tensor& x, int64_t dim) {
  return softmax_impl(x, dim, /*log=*/true);
}

Tensor logsumexp(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  check_floating(x, "logsumexp");
  std::vector<int64_t> dims = reduction_dims(dims_in, x.dim(), "logsumexp");
  // Reduce one run of adjacent dims as the middle of [outer, n, inner]; scattered dims are
  // first moved to the end (kept dims keep their order, so the output order is unchanged).
  Tensor xc = x.detach();
  int64_t outer = 1, n = 1, inner = 1;
  if (dims.empty() || dims.back() - dims.front() + 1 == int64_t(dims.size())) {
    xc = xc.contiguous();
    if (!dims.empty()) {
      outer = span(x.shape(), 0, dims.front());
      n = span(x.shape(), dims.front(), dims.back() + 1);
      inner = span(x.shape(), dims.back() + 1, x.dim());
    }
  } else {
    std::vector<int64_t> perm;
    for (int64_t i = 0; i < x.dim(); ++i)
      if (!std::binary_search(dims.begin(), dims.end(), i)) perm.push_back(i);
    perm.insert(perm.end(), dims.begin(), dims.end());
    xc = xc.permute(perm).contiguous();
    n = span(xc.shape(), x.dim() - int64_t(dims.size()), x.dim());
    outer = n == 0 ? span(xc.shape(), 0, x.dim() - int64_t(dims.size())) : x.numel() / n;
  }
  Tensor out = empty(reduced_shape(x.shape(), dims, keepdim), x.dtype(), x.device());
  logsumexp_kernels.get(x.device(), x.dtype(), "logsumexp")(out, xc, outer, n, inner);
  if (autograd::needs_grad(x)) {
    Tensor xd = x.detach(), od = out.detach();
    autograd::record("logsumexp", {x}, out,
                     [xd, od, dims, keepdim](const Tensor& g, const NeedsGrad&) {
                       // d/dx_i log sum_j exp(x_j) = exp(x_i - l): the softmax over the reduced
                       // dims.
                       const Shape& xs = xd.shape();
                       Tensor p = exp(sub(xd, expand_reduced(od, xs, dims, keepdim)));
                       return std::vector<Tensor>{mul(expand_reduced(g, xs, dims, keepdim), p)};
                     });
  }
  return out;
}

}  // namespace kiln::ops
