#include "core/tensor/factory.h"

#include <cmath>
#include <cstring>

#include "core/tensor/copy.h"

namespace kiln {

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  KILN_CHECK(step != 0, "arange: step must be nonzero");
  double span = (end - start) / step;
  int64_t n = span > 0 ? int64_t(std::ceil(span - 1e-12)) : 0;
  std::vector<double> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) v[size_t(i)] = start + double(i) * step;
  return from_vector(v, {n}, Device::cpu()).to(dtype).to(device);
}

Tensor tensor(const std::vector<double>& values, const Shape& shape, DType dtype, Device device) {
  Shape s = shape.empty() ? Shape{int64_t(values.size())} : shape;
  return from_vector(values, s).to(dtype).to(device);
}

Tensor from_host_buffer(const void* data, const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (device.is_cpu()) {
    if (t.nbytes() > 0) std::memcpy(t.data_ptr(), data, t.nbytes());  // data may be null when empty
  } else {
    Tensor host = from_host_buffer(data, shape, dtype);
    copy_elements(t, host);
  }
  return t;
}

}  // namespace kiln
