#include "core/tensor/copy.h"

#include "core/base/threads.h"
#include "core/ops/dispatch.h"
#include "kernels/cpu/convert.h"
#include "kernels/cpu/strided_loop.h"

namespace kiln {
namespace {

DeviceCopyFn& device_copy_slot(Device::Type t) {
  static DeviceCopyFn slots[Device::kNumTypes] = {};
  return slots[int(t)];
}

Strides broadcast_strides(const Tensor& src, const Shape& shape) {
  // Strides of src viewed at `shape` (right-aligned), with 0 for broadcast dims.
  Strides st(shape.size(), 0);
  int64_t off = int64_t(shape.size()) - src.dim();
  KILN_CHECK(off >= 0, "copy: cannot broadcast shape ", src.shape(), " to ", shape);
  for (int64_t i = 0; i < src.dim(); ++i) {
    int64_t s = src.size(i);
    KILN_CHECK(s == shape[off + i] || s == 1, "copy: cannot broadcast shape ", src.shape(), " to ", shape);
    st[off + i] = s == 1 ? 0 : src.stride(i);
  }
  return st;
}

}  // namespace

void register_device_copy(Device::Type type, DeviceCopyFn fn) { device_copy_slot(type) = fn; }

void copy_elements(const Tensor& dst, const Tensor& src) {
  if (!dst.device().is_cpu() || !src.device().is_cpu()) {
    Device other = dst.device().is_cpu() ? src.device() : dst.device();
    DeviceCopyFn fn = device_copy_slot(other.type);
    if (!fn) {  // backends register their copies with their kernels
      ops::ensure_kernels_registered();
      fn = device_copy_slot(other.type);
    }
    KILN_CHECK(fn, "copy: no copy function for device ", other.str(), " in this build");
    broadcast_strides(src, dst.shape());  // checks the shapes; the backend broadcasts
    fn(dst, src);
    return;
  }
  const Shape& shape = dst.shape();
  Strides sst = broadcast_strides(src, shape);
  const int nd = int(shape.size());
  Strides db(nd), sb(nd);
  for (int i = 0; i < nd; ++i) {
    db[i] = dst.stride(i) * int64_t(dst.itemsize());
    sb[i] = sst[i] * int64_t(src.itemsize());
  }
  cpu::StridedLayout<2> layout(nd, shape.data(), {db.data(), sb.data()});
  char* base[2] = {static_cast<char*>(dst.data_ptr()), static_cast<char*>(src.data_ptr())};
  dispatch_all(dst.dtype(), [&](auto dt) {
    using D = typename decltype(dt)::type;
    dispatch_all(src.dtype(), [&](auto st) {
      using S = typename decltype(st)::type;
      cpu::strided_loop<2>(layout, base, num_threads(), [](char* const* p, int64_t n, const int64_t* step) {
        cpu::convert_run<D, S>(p[0], p[1], n, step[0], step[1]);
      });
    });
  });
}

}  // namespace kiln
