#include "core/ops/reduce.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce_kernels.h"
#include "core/ops/view.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

using autograd::NeedsGrad;

std::vector<int64_t> reduction_dims(const std::vector<int64_t>& dims, int64_t ndim, const char* op) {
  std::vector<int64_t> out;
  if (dims.empty()) {
    for (int64_t i = 0; i < ndim; ++i) out.push_back(i);
    return out;
  }
  for (int64_t d : dims) out.push_back(wrap_dim(d, ndim, op));
  std::sort(out.begin(), out.end());
  KILN_CHECK(std::adjacent_find(out.begin(), out.end()) == out.end(), op, ": a dim is repeated in ", Shape(dims));
  return out;
}

Shape reduced_shape(const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Shape out;
  for (int64_t i = 0; i < int64_t(shape.size()); ++i) {
    bool reduced = std::binary_search(dims.begin(), dims.end(), i);
    if (!reduced) out.push_back(shape[size_t(i)]);
    else if (keepdim) out.push_back(1);
  }
  return out;
}

Tensor expand_reduced(const Tensor& g, const Shape& shape, const std::vector<int64_t>& dims, bool keepdim) {
  Tensor k = g;
  if (!keepdim) k = g.reshape(reduced_shape(shape, dims, /*keepdim=*/true));
  return k.expand(shape);
}

namespace {

// Reduces groups of adjacent dims one group at a time, last group first, each as the middle
// dim of an [outer, rows, inner] block. Returns the keepdim-shaped result.
Tensor reduce_raw(ReduceOp op, const Tensor& x_in, const std::vector<int64_t>& dims, const char* name) {
  Tensor cur = x_in.detach().contiguous();
  DType out_dtype = (op == ReduceOp::sum && !is_floating(x_in.dtype())) ? DType::i64 : x_in.dtype();
  size_t g_end = dims.size();
  if (g_end == 0) return cur.to(out_dtype).clone();
  while (g_end > 0) {
    size_t g_begin = g_end - 1;
    while (g_begin > 0 && dims[g_begin - 1] + 1 == dims[g_begin]) --g_begin;
    const int64_t first = dims[g_begin], last = dims[g_end - 1];
    const Shape& s = cur.shape();
    int64_t outer = 1, rows = 1, inner = 1;
    for (int64_t i = 0; i < first; ++i) outer *= s[size_t(i)];
    for (int64_t i = first; i <= last; ++i) rows *= s[size_t(i)];
    for (int64_t i = last + 1; i < int64_t(s.size()); ++i) inner *= s[size_t(i)];
    Shape os = s;
    for (int64_t i = first; i <= last; ++i) os[size_t(i)] = 1;
    // Later groups reduce an already-reduced tensor whose dtype is the output dtype.
    Tensor out = empty(os, out_dtype, cur.device());
    reduce_kernels.get(cur.device(), cur.dtype(), name)(op, out, cur, outer, rows, inner);
    cur = out;
    g_end = g_begin;
  }
  return cur;
}

// x viewed as [outer, n, inner] around `dim` (a 0-d tensor is one element).
struct Lines {
  int64_t outer = 1, n = 1, inner = 1;
};
Lines lines_around(const Shape& s, int64_t dim) {
  Lines l;
  if (s.empty()) return l;
  for (int64_t i = 0; i < dim; ++i) l.outer *= s[size_t(i)];
  l.n = s[size_t(dim)];
  for (int64_t i = dim + 1; i < int64_t(s.size()); ++i) l.inner *= s[size_t(i)];
  return l;
}

void check_nonempty(const Tensor& x, const std::vector<int64_t>& dims, const char* op) {
  for (int64_t d : dims)
    KILN_CHECK(x.size(d) > 0, op, ": cannot reduce dim ", d, " of size 0 (input shape ", x.shape(),
               "): the result has no identity");
}

// max / min: the gradient goes to the elements equal to the result, split equally among them.
Tensor extreme(ReduceOp op, const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim, const char* name) {
  std::vector<int64_t> dims = reduction_dims(dims_in, x.dim(), name);
  check_nonempty(x, dims, name);
  Tensor out = reduce_raw(op, x, dims, name);
  if (!keepdim) out = out.view(reduced_shape(x.shape(), dims, false));
  if (autograd::needs_grad(x)) {
    Tensor xd = x.detach(), od = out.detach();
    autograd::record(name, {x}, out, [xd, od, dims, keepdim](const Tensor& g, const NeedsGrad&) {
      const Shape& xs = xd.shape();
      Tensor hit = eq(xd, expand_reduced(od, xs, dims, keepdim)).to(g.dtype());
      Tensor share = div(hit, sum(hit, dims, /*keepdim=*/true));
      return std::vector<Tensor>{mul(expand_reduced(g, xs, dims, keepdim), share)};
    });
  }
  return out;
}

Tensor arg_extreme(bool is_max, const Tensor& x, int64_t dim_in, bool keepdim) {
  const char* name = is_max ? "argmax" : "argmin";
  const int64_t dim = wrap_dim(dim_in, x.dim(), name);
  Lines l = lines_around(x.shape(), dim);
  KILN_CHECK(l.n > 0, name, ": cannot reduce dim ", dim, " of size 0 (input shape ", x.shape(), ")");
  Shape os = x.dim() == 0 ? Shape{} : reduced_shape(x.shape(), {dim}, keepdim);
  Tensor out = empty(os, DType::i64, x.device());
  arg_reduce_kernels.get(x.device(), x.dtype(), name)(is_max, out, x.detach().contiguous(), l.outer, l.n, l.inner);
  return out;
}

// Prefix sums (or suffix sums) of x along dim, unrecorded.
Tensor cumsum_raw(const Tensor& x, int64_t dim, bool reverse) {
  Lines l = lines_around(x.shape(), dim);
  Tensor out = empty(x.shape(), is_floating(x.dtype()) ? x.dtype() : DType::i64, x.device());
  cumsum_kernels.get(x.device(), x.dtype(), "cumsum")(out, x.detach().contiguous(), l.outer, l.n, l.inner, reverse);
  return out;
}

}  // namespace

Tensor sum(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  std::vector<int64_t> dims = reduction_dims(dims_in, x.dim(), "sum");
  Tensor out = reduce_raw(ReduceOp::sum, x, dims, "sum");
  if (!keepdim) out = out.view(reduced_shape(x.shape(), dims, false));
  if (autograd::needs_grad(x)) {
    Shape xs = x.shape();
    autograd::record("sum", {x}, out, [xs, dims, keepdim](const Tensor& g, const NeedsGrad&) {
      return std::vector<Tensor>{expand_reduced(g, xs, dims, keepdim)};
    });
  }
  return out;
}

Tensor mean(const Tensor& x, const std::vector<int64_t>& dims_in, bool keepdim) {
  KILN_CHECK(is_floating(x.dtype()), "mean: expected a floating tensor, got ", dtype_name(x.dtype()));
  std::vector<int64_t> dims = reduction_dims(dims_in, x.dim(), "mean");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.size(d);
  return mul(sum(x, dims, keepdim), count > 0 ? 1.0 / double(count) : 0.0);
}

Tensor max(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::max, x, dims, keepdim, "max");
}

Tensor min(const Tensor& x, const std::vector<int64_t>& dims, bool keepdim) {
  return extreme(ReduceOp::min, x, dims, keepdim, "min");
}

Tensor var(const Tensor& x, const std::vector<int64_t>& dims_in, int64_t correction, bool keepdim) {
  KILN_CHECK(is_floating(x.dtype()), "var: expected a floating tensor, got ", dtype_name(x.dtype()), " with shape ",
             x.shape());
  KILN_CHECK(correction >= 0, "var: correction must be >= 0, got ", correction);
  // Halves are upcast: the centred squares would otherwise each be rounded to 8 (bf16) bits.
  if (x.dtype() == DType::bf16 || x.dtype() == DType::f16)
    return var(x.to(DType::f32), dims_in, correction, keepdim).to(x.dtype());
  std::vector<int64_t> dims = reduction_dims(dims_in, x.dim(), "var");
  int64_t count = 1;
  for (int64_t d : dims) count *= x.size(d);
  // Two passes (mean, then squared deviations) for accuracy when |mean| >> std. Dividing by
  // count - correction <= 0 gives inf or NaN, as in PyTorch.
  Tensor centred = sub(x, mean(x, dims, /*keepdim=*/true));
  Tensor ss = sum(square(centred), dims, keepdim);
  return div(ss, double(std::max<int64_t>(count - correction, 0)));
}

Tensor argmax(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(true, x, dim, keepdim); }
Tensor argmin(const Tensor& x, int64_t dim, bool keepdim) { return arg_extreme(false, x, dim, keepdim); }

std::pair<Tensor, Tensor> topk(const Tensor& x, int64_t k, int64_t dim_in, bool largest, bool sorted) {
  if (x.dim() == 0) {
    auto [v, i] = topk(x.reshape({1}), k, 0, largest, sorted);
    return {v.reshape(Shape{}), i.reshape(Shape{})};
  }
  const int64_t dim = wrap_dim(dim_in, x.dim(), "topk");
  const int64_t n = x.size(dim);
  KILN_CHECK(k >= 0 && k <= n, "topk: k = ", k, " is out of range for dim ", dim, " of size ", n, " (input shape ",
             x.shape(), ")");
  // Select along the last dim of a contiguous copy with `dim` moved last, then move it back.
  Tensor xt = x.detach().transpose(dim, -1).contiguous();
  Shape ts = xt.shape();
  ts.back() = k;
  Tensor vt = empty(ts, x.dtype(), x.device());
  Tensor it = empty(ts, DType::i64, x.device());
  topk_kernels.get(x.device(), x.dtype(), "topk")(vt, it, xt, k, largest, sorted);
  Tensor values = vt.transpose(dim, -1).contiguous();
  Tensor indices = it.transpose(dim, -1).contiguous();
  if (autograd::needs_grad(x)) {
    Shape xts = xt.shape();
    autograd::record("topk", {x}, values, [it, xts, dim](const Tensor& g, const NeedsGrad&) {
      Tensor dxt = zeros(xts, g.dtype(), g.device());
      topk_grad_kernels.get(g.device(), g.dtype(), "topk_backward")(dxt, g.transpose(dim, -1).contiguous(), it);
      return std::vector<Tensor>{dxt.transpose(dim, -1)};
    });
  }
  return {values, indices};
}

Tensor cumsum(const Tensor& x, int64_t dim_in) {
  const int64_t dim = wrap_dim(dim_in, x.dim(), "cumsum");
  Tensor out = cumsum_raw(x, dim, /*reverse=*/false);
  if (autograd::needs_grad(x)) {
    // d out_j / d x_i = [i <= j], so dx_i = sum_{j >= i} g_j: a suffix sum.
    autograd::record("cumsum", {x}, out, [dim](const Tensor& g, const NeedsGrad&) {
      return std::vector<Tensor>{cumsum_raw(g, dim, /*reverse=*/true)};
    });
  }
  return out;
}

}  // namespace kiln::ops
