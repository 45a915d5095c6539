// The differentiable view methods of Tensor, and the unrecorded views ops use internally.
#include "core/ops/view.h"

#include <algorithm>
#include <numeric>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/tensor/copy.h"
#include "core/tensor/factory.h"

namespace kiln {
namespace ops {

Tensor as_strided(const Tensor& t, const Shape& shape, const Strides& strides, int64_t offset) {
  return make_view(t.storage(), shape, strides, offset, t.dtype());
}

Tensor broadcast_view(const Tensor& t, const Shape& shape, const char* op) {
  if (t.shape() == shape) return t;
  const int64_t nd = int64_t(shape.size());
  const int64_t off = nd - t.dim();
  KILN_CHECK(off >= 0, op, ": cannot broadcast shape ", t.shape(), " to ", shape, " (more dims than the target)");
  Strides st(static_cast<size_t>(nd), 0);
  for (int64_t i = 0; i < t.dim(); ++i) {
    int64_t s = t.size(i);
    KILN_CHECK(s == shape[size_t(off + i)] || s == 1, op, ": cannot broadcast shape ", t.shape(), " to ", shape,
               " (dim ", i, ": ", s, " vs ", shape[size_t(off + i)], ")");
    st[size_t(off + i)] = s == 1 ? 0 : t.stride(i);
  }
  return as_strided(t, shape, st, t.offset());
}

Shape infer_shape(const Shape& shape, int64_t numel, const char* op) {
  Shape out = shape;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < out.size(); ++i) {
    if (out[i] == -1) {
      KILN_CHECK(infer < 0, op, ": only one size may be -1, got ", shape);
      infer = int64_t(i);
    } else {
      KILN_CHECK(out[i] >= 0, op, ": invalid size in shape ", shape);
      known *= out[i];
    }
  }
  if (infer >= 0) {
    KILN_CHECK(known > 0 && numel % known == 0, op, ": shape ", shape, " is invalid for ", numel, " elements");
    out[size_t(infer)] = numel / known;
  }
  KILN_CHECK(shape_numel(out) == numel, op, ": shape ", shape, " is invalid for ", numel, " elements");
  return out;
}

// Whether t's elements, read in row-major order, can be addressed with strides for `shape`:
// walk the old dims in groups whose product matches each run of new dims; inside a group the
// old dims must be contiguous with each other (PyTorch's computeStride).
bool view_strides(const Tensor& t, const Shape& shape, Strides* out) {
  const Shape& old = t.shape();
  const Strides& os = t.strides();
  Strides ns(shape.size(), 0);
  if (t.numel() <= 1 || old.empty()) {
    *out = contiguous_strides(shape);
    return true;
  }
  int64_t view_d = int64_t(shape.size()) - 1;
  int64_t chunk_base_stride = os.empty() ? 1 : os.back();
  int64_t tensor_numel = 1, view_numel = 1;
  for (int64_t d = int64_t(old.size()) - 1; d >= 0; --d) {
    tensor_numel *= old[size_t(d)];
    if (d == 0 || (old[size_t(d - 1)] != 1 && os[size_t(d - 1)] != tensor_numel * chunk_base_stride)) {
      while (view_d >= 0 && (view_numel < tensor_numel || shape[size_t(view_d)] == 1)) {
        ns[size_t(view_d)] = view_numel * chunk_base_stride;
        view_numel *= shape[size_t(view_d)];
        --view_d;
      }
      if (view_numel != tensor_numel) return false;
      if (d > 0) {
        chunk_base_stride = os[size_t(d - 1)];
        tensor_numel = 1;
        view_numel = 1;
      }
    }
  }
  if (view_d != -1) return false;
  *out = ns;
  return true;
}

}  // namespace ops

using autograd::NeedsGrad;

namespace {

// Records a view's backward: the gradient of the input is `back(grad_of_view)`.
template <class F>
Tensor record_view(const char* op, const Tensor& in, Tensor out, F back) {
  if (autograd::needs_grad(in))
    autograd::record(op, {in}, out, [back](const Tensor& g, const NeedsGrad&) { return std::vector<Tensor>{back(g)}; });
  return out;
}

}  // namespace

Tensor Tensor::view(const Shape& shape_in) const {
  Shape shape = ops::infer_shape(shape_in, numel(), "view");
  Strides st;
  KILN_CHECK(ops::view_strides(*this, shape, &st), "view: shape ", shape_in, " is not compatible with the layout of ",
             "a tensor of shape ", this->shape(), " and strides ", strides(), "; use reshape() (which copies)");
  Shape in_shape = this->shape();
  return record_view("view", *this, ops::as_strided(*this, shape, st, offset()),
                     [in_shape](const Tensor& g) { return g.reshape(in_shape); });
}

Tensor Tensor::reshape(const Shape& shape_in) const {
  Shape shape = ops::infer_shape(shape_in, numel(), "reshape");
  Strides st;
  if (ops::view_strides(*this, shape, &st)) return view(shape);
  return contiguous().view(shape);
}

Tensor Tensor::flatten(int64_t start, int64_t end) const {
  if (dim() == 0) return reshape({1});
  start = wrap_dim(start, dim(), "flatten");
  end = wrap_dim(end, dim(), "flatten");
  KILN_CHECK(start <= end, "flatten: start dim ", start, " is after end dim ", end);
  Shape s;
  for (int64_t i = 0; i < start; ++i) s.push_back(size(i));
  int64_t m = 1;
  for (int64_t i = start; i <= end; ++i) m *= size(i);
  s.push_back(m);
  for (int64_t i = end + 1; i < dim(); ++i) s.push_back(size(i));
  return reshape(s);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims_in) const {
  const int64_t nd = dim();
  KILN_CHECK(int64_t(dims_in.size()) == nd, "permute: got ", dims_in.size(), " dims for a tensor with ", nd);
  std::vector<int64_t> dims(dims_in.size());
  std::vector<bool> seen(static_cast<size_t>(nd), false);
  Shape s(static_cast<size_t>(nd));
  Strides st(static_cast<size_t>(nd));
  for (int64_t i = 0; i < nd; ++i) {
    int64_t d = wrap_dim(dims_in[size_t(i)], nd, "permute");
    KILN_CHECK(!seen[size_t(d)], "permute: dim ", d, " repeated in ", Shape(dims_in));
    seen[size_t(d)] = true;
    dims[size_t(i)] = d;
    s[size_t(i)] = size(d);
    st[size_t(i)] = stride(d);
  }
  std::vector<int64_t> inverse(static_cast<size_t>(nd));
  for (int64_t i = 0; i < nd; ++i) inverse[size_t(dims[size_t(i)])] = i;
  return record_view("permute", *this, ops::as_strided(*this, s, st, offset()),
                     [inverse](const Tensor& g) { return g.permute(inverse); });
}

Tensor Tensor::transpose(int64_t a, int64_t b) const {
  if (dim() == 0) {  // dims 0 and -1 name the one "dim" of a scalar: nothing to swap
    wrap_dim(a, 0, "transpose");
    wrap_dim(b, 0, "transpose");
    return *this;
  }
  std::vector<int64_t> dims(static_cast<size_t>(dim()));
  std::iota(dims.begin(), dims.end(), 0);
  std::swap(dims[size_t(wrap_dim(a, dim(), "transpose"))], dims[size_t(wrap_dim(b, dim(), "transpose"))]);
  return permute(dims);
}

Tensor Tensor::slice(int64_t d, int64_t start, int64_t end, int64_t step) const {
  d = wrap_dim(d, dim(), "slice");
  KILN_CHECK(step >= 1, "slice: step must be >= 1, got ", step);
  const int64_t n = size(d);
  if (start < 0) start += n;
  if (end < 0) end += n;
  start = std::clamp<int64_t>(start, 0, n);
  end = std::clamp<int64_t>(end, start, n);
  const int64_t len = (end - start + step - 1) / step;  // elements taken
  Shape s = shape();
  Strides st = strides();
  s[size_t(d)] = len;
  st[size_t(d)] *= step;
  Shape in_shape = shape();
  DType dt = dtype();
  return record_view("slice", *this, ops::as_strided(*this, s, st, offset() + start * stride(d)),
                     [in_shape, dt, d, start, step](const Tensor& g) {
                       Tensor z = zeros(in_shape, dt, g.device());
                       Strides zs = z.strides();
                       zs[size_t(d)] *= step;
                       ops::as_strided(z, g.shape(), zs, start * z.stride(d)).copy_(g);
                       return z;
                     });
}

Tensor Tensor::narrow(int64_t d, int64_t start, int64_t length) const {
  d = wrap_dim(d, dim(), "narrow");
  if (start < 0) start += size(d);
  KILN_CHECK(start >= 0 && length >= 0 && start + length <= size(d), "narrow: range [", start, ", ", start + length,
             ") is out of bounds for dim ", d, " of size ", size(d), " (shape ", shape(), ")");
  return slice(d, start, start + length);
}

Tensor Tensor::select(int64_t d, int64_t index) const {
  d = wrap_dim(d, dim(), "select");
  int64_t n = size(d);
  KILN_CHECK(index >= -n && index < n, "select: index ", index, " is out of range for dim ", d, " of size ", n);
  if (index < 0) index += n;
  return narrow(d, index, 1).squeeze(d);
}

Tensor Tensor::expand(const Shape& shape_in) const {
  // -1 keeps the existing size.
  Shape shape = shape_in;
  const int64_t off = int64_t(shape.size()) - dim();
  for (int64_t i = 0; i < int64_t(shape.size()); ++i)
    if (shape[size_t(i)] == -1) {
      KILN_CHECK(i >= off, "expand: -1 is only allowed for existing dims, got ", shape_in, " for ", this->shape());
      shape[size_t(i)] = size(i - off);
    }
  if (shape == this->shape()) return *this;
  Shape in_shape = this->shape();
  return record_view("expand", *this, ops::broadcast_view(*this, shape, "expand"),
                     [in_shape](const Tensor& g) { return ops::sum_to(g, in_shape); });
}

Tensor Tensor::squeeze(int64_t d) const {
  d = wrap_dim(d, dim(), "squeeze");
  if (dim() == 0 || size(d) != 1) return *this;
  Shape s = shape();
  s.erase(s.begin() + d);
  return view(s);
}

Tensor Tensor::squeeze() const {
  Shape s;
  for (int64_t x : shape())
    if (x != 1) s.push_back(x);
  return s == shape() ? *this : view(s);
}

Tensor Tensor::unsqueeze(int64_t d) const {
  d = wrap_dim(d, dim() + 1, "unsqueeze");
  Shape s = shape();
  s.insert(s.begin() + d, 1);
  return view(s);
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  return clone();
}

Tensor Tensor::clone() const {
  Tensor out = empty(shape(), dtype(), device());
  copy_elements(out, *this);
  return record_view("clone", *this, out, [](const Tensor& g) { return g; });
}

Tensor Tensor::to(DType dt) const {
  if (dt == dtype()) return *this;
  Tensor out = empty(shape(), dt, device());
  copy_elements(out, *this);
  if (!is_floating(dt)) return out;  // integer results are not differentiable
  DType back = dtype();
  return record_view("to", *this, out, [back](const Tensor& g) { return g.to(back); });
}

Tensor Tensor::to(Device d) const {
  if (d == device()) return *this;
  Tensor out = empty(shape(), dtype(), d);
  copy_elements(out, contiguous());
  Device back = device();
  return record_view("to_device", *this, out, [back](const Tensor& g) { return g.to(back); });
}

}  // namespace kiln
