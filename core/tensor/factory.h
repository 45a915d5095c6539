// Tensors made from values: constants, ranges, and host data.
#pragma once

#include <initializer_list>
#include <vector>

#include "core/tensor/tensor.h"

namespace kiln {

Tensor full(const Shape& shape, double value, DType dtype = DType::f32, Device device = Device::cpu());
inline Tensor zeros(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu()) {
  return full(shape, 0.0, dtype, device);
}
inline Tensor ones(const Shape& shape, DType dtype = DType::f32, Device device = Device::cpu()) {
  return full(shape, 1.0, dtype, device);
}
inline Tensor empty_like(const Tensor& t) { return empty(t.shape(), t.dtype(), t.device()); }
inline Tensor zeros_like(const Tensor& t) { return zeros(t.shape(), t.dtype(), t.device()); }
inline Tensor ones_like(const Tensor& t) { return ones(t.shape(), t.dtype(), t.device()); }
inline Tensor full_like(const Tensor& t, double v) { return full(t.shape(), v, t.dtype(), t.device()); }
/// A 0-d tensor holding v.
inline Tensor scalar(double v, DType dtype = DType::f32, Device device = Device::cpu()) {
  return full(Shape{}, v, dtype, device);
}

/// start, start+step, ... below end (above end for a negative step).
Tensor arange(double start, double end, double step = 1.0, DType dtype = DType::i64, Device device = Device::cpu());
inline Tensor arange(int64_t n, DType dtype = DType::i64) { return arange(0.0, double(n), 1.0, dtype); }

/// Copies host values into a new tensor of the given shape (numel must match).
template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device = Device::cpu());
/// Values given as doubles, converted to dtype; shape defaults to 1-d.
Tensor tensor(const std::vector<double>& values, const Shape& shape = {}, DType dtype = DType::f32,
              Device device = Device::cpu());

/// Copies a raw host buffer of `dtype` elements into a new tensor.
Tensor from_host_buffer(const void* data, const Shape& shape, DType dtype, Device device = Device::cpu());

template <class T>
Tensor from_vector(const std::vector<T>& values, const Shape& shape, Device device) {
  KILN_CHECK(int64_t(values.size()) == shape_numel(shape), "from_vector: ", values.size(),
             " values do not fill shape ", shape);
  if constexpr (std::is_same_v<T, bool>) {
    std::vector<uint8_t> tmp(values.begin(), values.end());
    return from_host_buffer(tmp.data(), shape, DType::boolean, device);
  } else {
    return from_host_buffer(values.data(), shape, dtype_v<T>, device);
  }
}

}  // namespace kiln
