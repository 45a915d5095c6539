// Copying elements between tensors: any dtype to any dtype, broadcast source, any strides.
#pragma once

#include "core/tensor/tensor.h"

namespace kiln {

/// dst[...] = convert(src[...]); src is broadcast to dst's shape. CPU-to-CPU is done here;
/// anything touching another device goes to the copy function that device's backend registered.
void copy_elements(const Tensor& dst, const Tensor& src);

/// A backend's copy between its device and the CPU (or within the device): any dtypes, src
/// broadcastable to dst's shape (checked by the caller).
using DeviceCopyFn = void (*)(const Tensor& dst, const Tensor& src);
void register_device_copy(Device::Type type, DeviceCopyFn fn);

}  // namespace kiln
