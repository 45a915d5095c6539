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

}  // namespace kiln::ops
