// Joining, splitting, indexing and masks. Gradients: concat/stack hand each input its slice of
// the output gradient; index_select and embedding send gradient rows back with index_add;
// gather and scatter_add are each other's adjoints.
#include "core/ops/index.h"

#include <algorithm>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/index_kernels.h"
#include "core/ops/view.h"
#include "core/tensor/copy.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

using autograd::NeedsGrad;

// ---- index checks ---------------------------------------------------------------------------

void check_index_dtype(const char* op, const Tensor& index, const char* what) {
  KILN_CHECK(index.dtype() == DType::i32 || index.dtype() == DType::i64, op, ": ", what,
             " must be i32 or i64, got ", dtype_name(index.dtype()), " with shape ", index.shape());
}

std::optional<int64_t> first_bad_index(const char* op, const Tensor& index, int64_t size,
                                       std::optional<int64_t> skip) {
  if (index.numel() == 0) return std::nullopt;
  int64_t bad = 0;
  if (index_check_kernels.get(index.device(), index.dtype(), op)(index, size, skip, &bad))
    return std::nullopt;
  return bad;
}

void check_index_range(const char* op, const Tensor& index, int64_t size,
                       const std::string& what_size) {
  if (auto bad = first_bad_index(op, index, size))
    KILN_FAIL(op, ": index ", *bad, " is out of range for ", what_size, " of size ", size,
              " (expected 0 <= index < ", size, ")");
}

namespace {

void check_same_device(const char* op, const Tensor& x, const Tensor& index) {
  KILN_CHECK(x.device() == index.device(), op, ": input is on ", x.device().str(),
             " but the indices are on ", index.device().str());
}

// The dtype gradients are summed in: f32 for bf16/f16, so that many small updates to one
// element are not each rounded to 8 bits of mantissa.
DType sum_dtype(DType t) {
  return (t == DType::bf16 || t == DType::f16) ? DType::f32 : t;
}

// Splits shape around dim into [outer, shape[dim], inner].
void outer_inner(const Shape& s, int64_t dim, int64_t* outer, int64_t* inner) {
  *outer = 1;
  *inner = 1;
  for (int64_t i = 0; i < dim; ++i) *outer *= s[size_t(i)];
  for (int64_t i = dim + 1; i < int64_t(s.size()); ++i) *inner *= s[size_t(i)];
}

// dx of shape xs (viewed as [outer, V, inner]) with g's rows [outer, n, inner] added at idx.
Tensor index_add_raw(const char* op, const Tensor& g, const Tensor& idx, const Shape& xs,
                     int64_t dim) {
  int64_t outer, inner;
  outer_inner(xs, dim, &outer, &inner);
  const DType acc = sum_dtype(g.dtype());
  Tensor dx = zeros(xs, acc, g.device());
  Tensor gc = g.to(acc).contiguous();
  if (gc.numel() > 0)
    index_add_kernels.get(g.device(), acc, op)(dx, gc, idx, outer, xs[size_t(dim)], inner);
  return dx.to(g.dtype());
}

// out (of out_shape, with the numel of [outer, n, inner]) = x's slices at idx along dim.
// idx is contiguous 1-d and checked.
Tensor select_rows(const char* op, const Tensor& x, int64_t dim, const Tensor& idx,
                   const Shape& out_shape) {
  int64_t outer, inner;
  outer_inner(x.shape(), dim, &outer, &inner);
  Tensor out = empty(out_shape, x.dtype(), x.device());
  if (out.numel() > 0)
    index_select_kernels.get(x.device(), x.dtype(), op)(out, x.detach().contiguous(), idx, outer,
                                                        x.size(dim), inner);
  if (autograd::needs_grad(x)) {
    Shape xs = x.shape();
    const int64_t n = idx.numel();
    autograd::record(
        op, {x}, out, [op, idx, xs, dim, outer, n, inner](const Tensor& g, const NeedsGrad&) {
          return std::vector<Tensor>{index_add_raw(op, g.reshape({outer, n, inner}), idx, xs, dim)};
        });
  }
  return out;
}

// out (a fresh contiguous tensor) += src scattered at index along dim, summed in f32 for halves.
Tensor scatter_add_raw(const char* op, Tensor out, const Tensor& src, const Tensor& index,
                       int64_t dim) {
  if (index.numel() == 0) return out;
  const DType acc = sum_dtype(out.dtype());
  if (acc == out.dtype()) {
    scatter_add_kernels.get(out.device(), acc, op)(out, src, index, dim);
    return out;
  }
  Tensor o = out.to(acc);
  scatter_add_kernels.get(out.device(), acc, op)(o, src.to(acc), index, dim);
  return o.to(out.dtype());
}

// The view of t at `shape` starting at offset `start` along dim (same strides; not recorded).
Tensor slot(const Tensor& t, const Shape& shape, const Strides& strides, int64_t dim,
            int64_t start) {
  return as_strided(t, shape, strides, t.offset() + start * t.stride(dim));
}

// Checks that index fits x and src as gather/scatter_add need: same rank; index's sizes at most
// src's everywhere (when given) and at most x's off dim.
void check_index_shape(const char* op, const Tensor& x, int64_t dim, const Tensor& index,
                       const Tensor* src) {
  KILN_CHECK(index.dim() == x.dim(), op, ": index must have the input's rank; got index shape ",
             index.shape(), " for input shape ", x.shape());
  for (int64_t d = 0; d < x.dim(); ++d) {
    KILN_CHECK(d == dim || index.size(d) <= x.size(d), op, ": index shape ", index.shape(),
               " is larger than the input shape ", x.shape(), " at dim ", d, " (only dim ", dim,
               " may differ)");
    if (src)
      KILN_CHECK(index.size(d) <= src->size(d), op, ": index shape ", index.shape(),
                 " is larger than the source shape ", src->shape(), " at dim ", d);
  }
}

}  // namespace

// ---- joining and splitting ------------------------------------------------------------------

Tensor concat(const std::vector<Tensor>& tensors, int64_t dim) {
  KILN_CHECK(!tensors.empty(), "concat: expected at least one tensor");
  const Tensor& a = tensors[0];
  KILN_CHECK(a.dim() > 0, "concat: 0-d tensors cannot be concatenated (use stack)");
  dim = wrap_dim(dim, a.dim(), "concat");
  Shape shape = a.shape();
  std::vector<int64_t> starts;
  int64_t total = 0;
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    KILN_CHECK(t.dtype() == a.dtype() && t.device() == a.device(), "concat: tensor ", i, " is ",
               dtype_name(t.dtype()), " on ", t.device().str(), ", tensor 0 is ",
               dtype_name(a.dtype()), " on ", a.device().str());
    bool same = t.dim() == a.dim();
    for (int64_t d = 0; same && d < a.dim(); ++d) same = d == dim || t.size(d) == a.size(d);
    KILN_CHECK(same, "concat: tensor ", i, " has shape ", t.shape(),
               ", which differs from tensor 0's ", a.shape(), " off dim ", dim);
    starts.push_back(total);
    total += t.size(dim);
  }
  shape[size_t(dim)] = total;
  Tensor out = empty(shape, a.dtype(), a.device());
  for (size_t i = 0; i < tensors.size(); ++i)
    if (tensors[i].numel() > 0)
      copy_elements(slot(out, tensors[i].shape(), out.strides(), dim, starts[i]), tensors[i]);
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.size(dim));
  autograd::record("concat", tensors, out,
                   [dim, starts, sizes](const Tensor& g, const NeedsGrad& n) {
                     std::vector<Tensor> gs(starts.size());
                     for (size_t i = 0; i < starts.size(); ++i)
                       if (n[i]) gs[i] = g.narrow(dim, starts[i], sizes[i]);
                     return gs;
                   });
  return out;
}

Tensor stack(const std::vector<Tensor>& tensors, int64_t dim) {
  KILN_CHECK(!tensors.empty(), "stack: expected at least one tensor");
  const Tensor& a = tensors[0];
  dim = wrap_dim(dim, a.dim() + 1, "stack");
  for (size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& t = tensors[i];
    KILN_CHECK(t.shape() == a.shape(), "stack: tensor ", i, " has shape ", t.shape(),
               ", tensor 0 has ", a.shape(), " (all must match)");
    KILN_CHECK(t.dtype() == a.dtype() && t.device() == a.device(), "stack: tensor ", i, " is ",
               dtype_name(t.dtype()), " on ", t.device().str(), ", tensor 0 is ",
               dtype_name(a.dtype()), " on ", a.device().str());
  }
  Shape shape = a.shape();
  shape.insert(shape.begin() + dim, int64_t(tensors.size()));
  Tensor out = empty(shape, a.dtype(), a.device());
  Strides st = out.strides();
  st.erase(st.begin() + dim);
  for (size_t i = 0; i < tensors.size(); ++i)
    if (a.numel() > 0) copy_elements(slot(out, a.shape(), st, dim, int64_t(i)), tensors[i]);
  autograd::record("stack", tensors, out, [dim](const Tensor& g, const NeedsGrad& n) {
    std::vector<Tensor> gs(size_t(g.size(dim)));
    for (size_t i = 0; i < gs.size(); ++i)
      if (n[i]) gs[i] = g.select(dim, int64_t(i));
    return gs;
  });
  return out;
}

std::vector<Tensor> split(const Tensor& x, int64_t size, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  const int64_t n = x.size(dim);
  KILN_CHECK(size > 0 || (size == 0 && n == 0),
             "split: size must be >= 1 (0 only for an empty dim), got ", size, " for dim ", dim,
             " of size ", n);
  std::vector<Tensor> out;
  if (n == 0) return {x.narrow(dim, 0, 0)};
  for (int64_t s = 0; s < n; s += size) out.push_back(x.narrow(dim, s, std::min(size, n - s)));
  return out;
}

std::vector<Tensor> split(const Tensor& x, const std::vector<int64_t>& sizes, int64_t dim) {
  dim = wrap_dim(dim, x.dim(), "split");
  int64_t total = 0;
  for (int64_t s : sizes) {
    KILN_CHECK(s >= 0, "split: sizes must be >= 0, got ", Shape(sizes));
    total += s;
  }
  KILN_CHECK(total == x.size(dim), "split: sizes ", Shape(sizes), " sum to ", total,
             ", not to the size ", x.size(dim), " of dim ", dim, " (shape ", x.shape(), ")");
  std::vector<Tensor> out;
  int64_t start = 0;
  for (int64_t s : sizes) {
    out.push_back(x.narrow(dim, start, s));
    start += s;
  }
  return out;
}

// As torch.chunk: pieces of ceil(n / chunks), so there may be fewer than `chunks` of them
// (chunk of 5 into 4 gives 2, 2, 1); an empty dim still gives `chunks` empty pieces.
std::vector<Tensor> chunk(const Tensor& x, int64_t chunks, int64_t dim) {
  KILN_CHECK(chunks > 0, "chunk: chunks must be >= 1, got ", chunks);
  dim = wrap_dim(dim, x.dim(), "chunk");
  const int64_t n = x.size(dim);
  if (n == 0) return split(x, std::vector<int64_t>(size_t(chunks), 0), dim);
  return split(x, (n + chunks - 1) / chunks, dim);
}

// ---- indexing -------------------------------------------------------------------------------

Tensor index_select(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "index_select";
  check_index_dtype(op, index);
  check_same_device(op, x, index);
  KILN_CHECK(index.dim() <= 1, op, ": index must be 1-d, got shape ", index.shape());
  KILN_CHECK(x.dim() > 0, op, ": input must have at least one dim");
  dim = wrap_dim(dim, x.dim(), op);
  check_index_range(op, index, x.size(dim), str_cat("dim ", dim));
  Tensor idx = index.detach().contiguous().reshape({index.numel()});
  Shape os = x.shape();
  os[size_t(dim)] = idx.numel();
  return select_rows(op, x, dim, idx, os);
}

Tensor embedding(const Tensor& weight, const Tensor& ids) {
  const char* op = "embedding";
  KILN_CHECK(weight.dim() == 2, op, ": weight must be [vocab, dim], got shape ", weight.shape());
  check_index_dtype(op, ids, "ids");
  check_same_device(op, weight, ids);
  const int64_t V = weight.size(0);
  if (auto bad = first_bad_index(op, ids, V))
    KILN_FAIL(op, ": id ", *bad, " is out of range for a vocabulary of ", V, " (weight shape ",
              weight.shape(), "; expected 0 <= id < ", V, ")");
  Tensor idx = ids.detach().contiguous().reshape({ids.numel()});
  Shape os = ids.shape();
  os.push_back(weight.size(1));
  return select_rows(op, weight, 0, idx, os);
}

Tensor gather(const Tensor& x, int64_t dim, const Tensor& index) {
  const char* op = "gather";
  check_index_dtype(op, index);
  check_same_device(op, x, index);
  KILN_CHECK(x.dim() > 0, op, ": input must have at least one dim");
  dim = wrap_dim(dim, x.dim(), op);
  check_index_shape(op, x, dim, index, nullptr);
  check_index_range(op, index, x.size(dim), str_cat("dim ", dim));
  Tensor out = empty(index.shape(), x.dtype(), x.device());
  Tensor idx = index.detach();
  if (out.numel() > 0) gather_kernels.get(x.device(), x.dtype(), op)(out, x.detach(), idx, dim);
  if (autograd::needs_grad(x)) {
    Shape xs = x.shape();
    autograd::record(op, {x}, out, [xs, dim, idx](const Tensor& g, const NeedsGrad&) {
      return std::vector<Tensor>{
          scatter_add_raw("gather_backward", zeros(xs, g.dtype(), g.device()), g, idx, dim)};
    });
  }
  return out;
}

Tensor scatter_add(const Tensor& x, int64_t dim, const Tensor& index, const Tensor& src) {
  const char* op = "scatter_add";
  check_index_dtype(op, index);
  check_same_device(op, x, index);
  KILN_CHECK(x.dtype() == src.dtype() && x.device() == src.device(), op, ": input is ",
             dtype_name(x.dtype()), " on ", x.device().str(), " but src is ",
             dtype_name(src.dtype()), " on ", src.device().str());
  KILN_CHECK(x.dim() > 0, op, ": input must have at least one dim");
  dim = wrap_dim(dim, x.dim(), op);
  KILN_CHECK(src.dim() == x.dim(), op, ": src must have the input's rank; got src shape ",
             src.shape(), " for input shape ", x.shape());
  check_index_shape(op, x, dim, index, &src);
  check_index_range(op, index, x.size(dim), str_cat("dim ", dim));
  Tensor idx = index.detach();
  Tensor out = scatter_add_raw(op, x.detach().clone(), src.detach(), idx, dim);
  if (autograd::needs_grad(x, src)) {
    Shape ss = src.shape();
    autograd::record(op, {x, src}, out, [dim, idx, ss](const Tensor& g, const NeedsGrad& n) {
      Tensor gsrc;
      if (n[1]) {
        gsrc = gather(g, dim, idx);
        if (gsrc.shape() != ss) {
          // src larger than index: its extra elements were never added, so they get zero.
          Tensor z = zeros(ss, g.dtype(), g.device());
          as_strided(z, idx.shape(), z.strides(), 0).copy_(gsrc);
          gsrc = z;
        }
      }
      return std::vector<Tensor>{n[0] ? g : Tensor(), gsrc};
    });
  }
  return out;
}

Tensor one_hot(const Tensor& ids, int64_t num_classes, DType dtype) {
  const char* op = "one_hot";
  check_index_dtype(op, ids, "ids");
  KILN_CHECK(num_classes >= 1, op, ": num_classes must be >= 1, got ", num_classes);
  if (auto bad = first_bad_index(op, ids, num_classes))
    KILN_FAIL(op, ": id ", *bad, " is out of range for ", num_classes,
              " classes (expected 0 <= id < ", num_classes, ")");
  Tensor classes = arange(0.0, double(num_classes), 1.0, ids.dtype(), ids.device());
  return eq(ids.detach().unsqueeze(-1), classes).to(dtype);
}

// ---- triangles ------------------------------------------------------------------------------

namespace {

void check_mask_size(const char* op, int64_t rows, int64_t cols) {
  KILN_CHECK(rows >= 0 && cols >= 0, op, ": rows and cols must be >= 0, got ", rows, " and ", cols);
}

// Row index i as [rows, 1] and column index j as [1, cols], shifted so that the masks compare
// j with i + k.
std::pair<Tensor, Tensor> diagonal_coords(int64_t rows, int64_t cols, int64_t k, Device device) {
  Tensor i = arange(double(k), double(k + rows), 1.0, DType::i64, device).view({rows, 1});
  Tensor j = arange(0.0, double(cols), 1.0, DType::i64, device).view({1, cols});
  return {i, j};
}

Tensor triangle(const char* op, const Tensor& x, int64_t k, bool lower) {
  KILN_CHECK(x.dim() >= 2, op,
             ": expected at least 2 dims (the last two form the matrices), got shape ", x.shape());
  const int64_t rows = x.size(-2), cols = x.size(-1);
  Tensor mask = lower ? tril_mask(rows, cols, k, x.device()) : triu_mask(rows, cols, k, x.device());
  // where() carries the gradient: g where the mask keeps x, zero elsewhere.
  return where(mask, x, scalar(0.0, x.dtype(), x.device()));
}

}  // namespace

Tensor tril_mask(int64_t rows, int64_t cols, int64_t k, Device device) {
  check_mask_size("tril_mask", rows, cols);
  auto [i, j] = diagonal_coords(rows, cols, k, device);
  return le(j, i);  // j - row <= k
}

Tensor triu_mask(int64_t rows, int64_t cols, int64_t k, Device device) {
  check_mask_size("triu_mask", rows, cols);
  auto [i, j] = diagonal_coords(rows, cols, k, device);
  return ge(j, i);  // j - row >= k
}

Tensor tril(const Tensor& x, int64_t k) {
  return triangle("tril", x, k, /*lower=*/true);
}
Tensor triu(const Tensor& x, int64_t k) {
  return triangle("triu", x, k, /*lower=*/false);
}

}  // namespace kiln::ops
