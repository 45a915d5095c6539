// Tensor: a strided n-d view on shared Storage, with the autograd state of reverse mode.
//
// A Tensor is a cheap handle (one shared_ptr); copies share the same TensorImpl. Views share
// Storage and differ in shape/strides/offset. Every view and op is recorded on the autograd
// tape when grad mode is on and an input requires grad (see core/autograd/autograd.h).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <type_traits>
#include <vector>

#include "core/base/error.h"
#include "core/tensor/device.h"
#include "core/tensor/dtype.h"
#include "core/tensor/shape.h"
#include "core/tensor/storage.h"

namespace kiln {

namespace autograd {
struct Node;
}

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;     // in elements
  int64_t offset = 0;  // in elements, from storage->data()
  DType dtype = DType::f32;

  // Autograd. A leaf that requires grad owns its accumulator node; a non-leaf has grad_fn.
  bool requires_grad = false;
  std::shared_ptr<autograd::Node> grad_fn;
  std::shared_ptr<autograd::Node> grad_accumulator;
  std::shared_ptr<TensorImpl> grad;
};

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  bool defined() const { return impl_ != nullptr; }
  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  /// True when both handles refer to the same TensorImpl.
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

  // ---- metadata ---------------------------------------------------------------------------
  const Shape& shape() const { return checked().shape; }
  const Strides& strides() const { return checked().strides; }
  int64_t dim() const { return int64_t(checked().shape.size()); }
  /// Size of one dim; negative dims count from the end.
  int64_t size(int64_t d) const;
  int64_t stride(int64_t d) const;
  int64_t offset() const { return checked().offset; }
  int64_t numel() const { return shape_numel(checked().shape); }
  DType dtype() const { return checked().dtype; }
  Device device() const { return checked().storage->device(); }
  size_t itemsize() const { return kiln::itemsize(dtype()); }
  size_t nbytes() const { return size_t(numel()) * itemsize(); }
  bool is_contiguous() const;
  const std::shared_ptr<Storage>& storage() const { return checked().storage; }

  /// Address of element 0 (storage base + offset).
  void* data_ptr() const;
  /// Typed address of element 0; throws when T does not match the dtype.
  template <class T>
  T* data() const {
    KILN_CHECK(dtype() == dtype_v<T>, "Tensor::data<", dtype_name(dtype_v<T>), ">: tensor has dtype ",
               dtype_name(dtype()));
    return static_cast<T*>(data_ptr());
  }

  /// The value of a one-element tensor, converted to double (copied from the device if needed).
  double item() const;
  template <class T>
  T item() const {
    return static_cast<T>(item());
  }
  /// All elements in row-major order, converted to T.
  template <class T>
  std::vector<T> to_vector() const;

  // ---- views (share storage; differentiable) ----------------------------------------------
  /// Same elements, new shape; needs a compatible stride layout (see reshape). One size may be -1.
  Tensor view(const Shape& shape) const;
  /// view when the layout allows, else a contiguous copy.
  Tensor reshape(const Shape& shape) const;
  /// Merges dims start..end (inclusive) into one.
  Tensor flatten(int64_t start = 0, int64_t end = -1) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t a, int64_t b) const;
  /// Transpose of the last two dims.
  Tensor mT() const { return transpose(-2, -1); }
  /// Elements start..start+length-1 along dim.
  Tensor narrow(int64_t dim, int64_t start, int64_t length) const;
  /// Python-style slice [start:end:step] along dim (negative start/end count from the end).
  Tensor slice(int64_t dim, int64_t start, int64_t end, int64_t step = 1) const;
  /// Index `index` along dim, removing the dim.
  Tensor select(int64_t dim, int64_t index) const;
  /// Broadcasts size-1 dims (and new leading dims) to `shape` with zero strides.
  Tensor expand(const Shape& shape) const;
  Tensor expand_as(const Tensor& other) const { return expand(other.shape()); }
  Tensor squeeze(int64_t dim) const;
  /// Removes every size-1 dim.
  Tensor squeeze() const;
  Tensor unsqueeze(int64_t dim) const;
  /// This tensor if already contiguous, else a contiguous copy.
  Tensor contiguous() const;
  /// A contiguous copy with its own storage.
  Tensor clone() const;
  /// A copy converted to dtype (this tensor when the dtype already matches).
  Tensor to(DType dtype) const;
  /// A copy on device (this tensor when already there).
  Tensor to(Device device) const;

  // ---- in place (never recorded; refused on a leaf that requires grad while grad mode is on)
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  /// Copies src (broadcast to this shape, any dtype) into this tensor.
  Tensor& copy_(const Tensor& src);

  // ---- autograd ---------------------------------------------------------------------------
  bool requires_grad() const { return checked().requires_grad; }
  /// Marks a leaf as needing gradients; only floating dtypes may.
  Tensor& requires_grad_(bool on = true);
  bool is_leaf() const { return checked().grad_fn == nullptr; }
  const std::shared_ptr<autograd::Node>& grad_fn() const { return checked().grad_fn; }
  /// The accumulated gradient (undefined until a backward reaches this tensor).
  Tensor grad() const;
  void set_grad(const Tensor& g) const;
  /// Same storage and view, cut from the graph.
  Tensor detach() const;
  /// Backpropagates from this tensor. A scalar may omit grad (taken as 1). Without
  /// retain_graph the graph's saved tensors are freed, and a second backward through it throws.
  void backward(const Tensor& grad = Tensor(), bool retain_graph = false) const;

  // ---- printing ---------------------------------------------------------------------------
  /// "tensor([[1.0000, 2.0000], ...], dtype=f32)", summarised with ... beyond 1000 elements.
  std::string str() const;

 private:
  TensorImpl& checked() const {
    if (!impl_) [[unlikely]]
      throw_undefined();
    return *impl_;
  }
  [[noreturn]] static void throw_undefined();

  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

/// Makes a tensor over fresh storage (uninitialised), row-major.
Tensor empty(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu());
/// Makes a tensor that views existing storage.
Tensor make_view(const std::shared_ptr<Storage>& storage, const Shape& shape, const Strides& strides,
                 int64_t offset, DType dtype);

}  // namespace kiln

namespace kiln {

/// Copies t's elements, converted to dtype, into a host buffer of t.numel() items, row-major.
void copy_to_host_buffer(const Tensor& t, DType dtype, void* buffer);

template <class T>
std::vector<T> Tensor::to_vector() const {
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<uint8_t> tmp(static_cast<size_t>(numel()));
    copy_to_host_buffer(*this, DType::boolean, tmp.data());
    return std::vector<bool>(tmp.begin(), tmp.end());
  } else {
    std::vector<T> out(static_cast<size_t>(numel()));
    copy_to_host_buffer(*this, dtype_v<T>, out.data());
    return out;
  }
}

}  // namespace kiln
