#include "core/tensor/tensor.h"

#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/autograd/autograd.h"
#include "core/tensor/copy.h"

namespace kiln {

void Tensor::throw_undefined() {
  KILN_FAIL("use of an undefined Tensor (default-constructed, or a gradient that was never computed)");
}

// wrap_dim accepts dim 0 of a 0-d tensor (as views do), but a 0-d tensor has no sizes to read.
int64_t Tensor::size(int64_t d) const {
  KILN_CHECK(dim() > 0, "size: a 0-d tensor has no dim ", d);
  return shape()[wrap_dim(d, dim(), "size")];
}
int64_t Tensor::stride(int64_t d) const {
  KILN_CHECK(dim() > 0, "stride: a 0-d tensor has no dim ", d);
  return strides()[wrap_dim(d, dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  const auto& sh = shape();
  const auto& st = strides();
  int64_t expected = 1;
  for (int64_t i = int64_t(sh.size()) - 1; i >= 0; --i) {
    if (sh[i] == 1) continue;
    if (st[i] != expected) return false;
    expected *= sh[i];
  }
  return true;
}

void* Tensor::data_ptr() const {
  return static_cast<char*>(storage()->data()) + offset() * int64_t(itemsize());
}

double Tensor::item() const {
  KILN_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ", shape());
  double v = 0;
  Tensor dst = make_view(std::make_shared<Storage>(&v, sizeof v, Device::cpu(), nullptr), Shape{},
                         Strides{}, 0, DType::f64);
  copy_elements(dst, reshape(Shape{}));
  return v;
}

void copy_to_host_buffer(const Tensor& t, DType dtype, void* buffer) {
  Tensor dst = make_view(std::make_shared<Storage>(buffer, t.numel() * itemsize(dtype), Device::cpu(), nullptr),
                         t.shape(), contiguous_strides(t.shape()), 0, dtype);
  copy_elements(dst, t);
}

Tensor& Tensor::fill_(double value) {
  autograd::check_inplace(*this, "fill_");
  // Zeroing (every parameter a model allocates, every gradient buffer) is a memset: all-zero
  // bytes are 0 in every dtype kiln has.
  if (value == 0.0 && !std::signbit(value) && device().is_cpu() && is_contiguous()) {
    if (nbytes() > 0) std::memset(data_ptr(), 0, nbytes());
    return *this;
  }
  double v = value;
  Tensor src = make_view(std::make_shared<Storage>(&v, sizeof v, Device::cpu(), nullptr), Shape{}, Strides{},
                         0, DType::f64);
  copy_elements(*this, src);
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  autograd::check_inplace(*this, "copy_");
  copy_elements(*this, src);
  return *this;
}

Tensor& Tensor::requires_grad_(bool on) {
  KILN_CHECK(!on || is_floating(dtype()), "requires_grad_: only floating tensors can require grad, this one is ",
             dtype_name(dtype()));
  KILN_CHECK(is_leaf(), "requires_grad_: only a leaf tensor can change requires_grad (this one was made by '",
             autograd::node_name(grad_fn()), "'; use detach() first)");
  impl_->requires_grad = on;
  if (!on) impl_->grad_accumulator.reset();
  return *this;
}

Tensor Tensor::grad() const { return checked().grad ? Tensor(checked().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined()) {
    KILN_CHECK(g.shape() == shape() && g.dtype() == dtype(), "set_grad: gradient of shape ", g.shape(), " ",
               dtype_name(g.dtype()), " does not match tensor of shape ", shape(), " ", dtype_name(dtype()));
  }
  checked().grad = g.impl_ptr();
}

Tensor Tensor::detach() const {
  const TensorImpl& s = checked();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = s.storage;
  impl->shape = s.shape;
  impl->strides = s.strides;
  impl->offset = s.offset;
  impl->dtype = s.dtype;
  return Tensor(std::move(impl));
}

void Tensor::backward(const Tensor& grad, bool retain_graph) const {
  autograd::backward(*this, grad, retain_graph);
}

// ---- printing -------------------------------------------------------------------------------

namespace {

constexpr int64_t kSummariseAbove = 1000;
constexpr int64_t kEdgeItems = 3;

void print_rec(std::ostream& os, const std::vector<double>& v, const Shape& shape, size_t dim, int64_t base,
               bool floating, bool summarise, int indent) {
  if (shape.empty()) {
    char buf[64];
    if (floating) std::snprintf(buf, sizeof buf, "%.4f", v[base]);
    else std::snprintf(buf, sizeof buf, "%" PRId64, int64_t(v[base]));
    os << buf;
    return;
  }
  int64_t n = shape[dim];
  int64_t inner = 1;
  for (size_t d = dim + 1; d < shape.size(); ++d) inner *= shape[d];
  os << '[';
  for (int64_t i = 0; i < n; ++i) {
    if (summarise && n > 2 * kEdgeItems && i == kEdgeItems) {
      os << "...";
      i = n - kEdgeItems - 1;
      os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
      continue;
    }
    if (dim + 1 == shape.size()) {
      char buf[64];
      double x = v[base + i];
      if (!floating) std::snprintf(buf, sizeof buf, "%" PRId64, int64_t(x));
      else if (x != 0 && (std::fabs(x) >= 1e6 || std::fabs(x) < 1e-4)) std::snprintf(buf, sizeof buf, "%.4e", x);
      else std::snprintf(buf, sizeof buf, "%.4f", x);
      os << buf;
    } else {
      print_rec(os, v, shape, dim + 1, base + i * inner, floating, summarise, indent + 1);
    }
    if (i + 1 < n) os << (dim + 1 == shape.size() ? ", " : ",\n" + std::string(indent + 1, ' '));
  }
  os << ']';
}

}  // namespace

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::vector<double> v(numel());
  copy_to_host_buffer(*this, DType::f64, v.data());
  std::ostringstream os;
  os << "tensor(";
  Shape sh = shape();
  if (sh.empty()) {
    print_rec(os, v, sh, 0, 0, is_floating(dtype()), false, 7);
  } else {
    print_rec(os, v, sh, 0, 0, is_floating(dtype()), numel() > kSummariseAbove, 7);
  }
  os << ", shape=" << sh << ", dtype=" << dtype_name(dtype());
  if (!device().is_cpu()) os << ", device=" << device().str();
  if (requires_grad()) os << ", requires_grad";
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

// ---- construction ---------------------------------------------------------------------------

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (int64_t d : shape) KILN_CHECK(d >= 0, "empty: negative size in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(size_t(shape_numel(shape)) * itemsize(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor make_view(const std::shared_ptr<Storage>& storage, const Shape& shape, const Strides& strides,
                 int64_t offset, DType dtype) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

}  // namespace kiln
