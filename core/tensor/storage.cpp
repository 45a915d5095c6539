#include "core/tensor/storage.h"

#include "core/tensor/allocator.h"

namespace kiln {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = allocator_for(device).allocate(nbytes);
}

Storage::Storage(void* data, size_t nbytes, Device device, std::shared_ptr<const void> owner)
    : data_(data), nbytes_(nbytes), device_(device), owned_(false), owner_(std::move(owner)) {}

Storage::~Storage() {
  if (owned_) allocator_for(device_).deallocate(data_, nbytes_);
}

}  // namespace kiln
