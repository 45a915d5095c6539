// Device memory allocators. Each device type has one allocator; the CPU one caches freed
// blocks by size class so that a training step does not page-fault its activations afresh.
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor/device.h"

namespace kiln {

struct MemoryStats {
  size_t in_use = 0;  ///< bytes handed out and not yet returned
  size_t peak = 0;    ///< high-water mark of in_use since the last reset_peak()
  size_t cached = 0;  ///< bytes held in the cache, free for reuse
};

class Allocator {
 public:
  virtual ~Allocator() = default;
  virtual void* allocate(size_t nbytes) = 0;
  virtual void deallocate(void* p, size_t nbytes) = 0;
  virtual MemoryStats stats() const = 0;
  virtual void reset_peak() = 0;
  /// Returns cached blocks to the system.
  virtual void empty_cache() = 0;
};

/// The allocator for a device type; throws when none is registered (a CUDA device in a build
/// without CUDA, say).
Allocator& allocator_for(Device device);
/// Installs the allocator for a device type (the CUDA backend calls this at load).
void register_allocator(Device::Type type, Allocator* allocator);

inline MemoryStats memory_stats(Device d = Device::cpu()) { return allocator_for(d).stats(); }
inline void reset_peak_memory(Device d = Device::cpu()) { allocator_for(d).reset_peak(); }

}  // namespace kiln
