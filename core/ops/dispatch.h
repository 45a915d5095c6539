// The kernel table: for each op, one function per (device type, dtype), filled in by the
// backends (core/ops/cpu registers the CPU kernels; the CUDA backend registers its own).
#pragma once

#include "core/base/error.h"
#include "core/tensor/device.h"
#include "core/tensor/dtype.h"

namespace kiln::ops {

/// Registers the kernels of every backend built in; runs once, on the first lookup that misses.
void ensure_kernels_registered();

template <class Fn>
class KernelTable {
 public:
  explicit constexpr KernelTable(const char* op) : op_(op) {}

  void set(Device::Type device, DType dtype, Fn* fn) { table_[int(device)][int(dtype)] = fn; }

  /// The kernel for (device, dtype); throws naming the op, the device and the dtype when the
  /// backend has none.
  Fn* get(Device device, DType dtype) const { return get(device, dtype, op_); }

  /// As get(), naming `op` in the error (for tables shared by a family of ops).
  Fn* get(Device device, DType dtype, const char* op) const {
    Fn* fn = table_[int(device.type)][int(dtype)];
    if (fn) [[likely]]
      return fn;
    ensure_kernels_registered();
    fn = table_[int(device.type)][int(dtype)];
    if (!fn)
      KILN_FAIL("no kernel for op '", op, "' on ", device.str(), " for dtype ", dtype_name(dtype),
                available());
    return fn;
  }

  const char* op() const { return op_; }

 private:
  std::string available() const {
    std::string s;
    for (int d = 0; d < Device::kNumTypes; ++d)
      for (int t = 0; t < kNumDTypes; ++t)
        if (table_[d][t]) {
          s += s.empty() ? " (available: " : ", ";
          s += std::string(d == 0 ? "cpu/" : "cuda/") + dtype_name(DType(t));
        }
    return s.empty() ? " (no backend registered it)" : s + ")";
  }

  const char* op_;
  Fn* table_[Device::kNumTypes][kNumDTypes] = {};
};


}  // namespace kiln::ops
