// A reference-counted block of device memory that tensors view.
#pragma once

#include <cstddef>
#include <memory>

#include "core/tensor/device.h"

namespace kiln {

class Storage {
 public:
  /// Allocates nbytes on the device (uninitialised).
  Storage(size_t nbytes, Device device);
  /// Wraps memory owned elsewhere (a memory-mapped file, a caller's buffer); `owner`, when
  /// given, keeps it alive as long as this Storage lives.
  Storage(void* data, size_t nbytes, Device device, std::shared_ptr<const void> owner);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  bool owned_ = true;                  // false for external memory
  std::shared_ptr<const void> owner_;
};

}  // namespace kiln
