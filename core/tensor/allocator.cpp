#include "core/tensor/allocator.h"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <new>
#include <unordered_map>
#include <vector>

#include "core/base/error.h"
#include "core/ops/dispatch.h"

namespace kiln {
namespace {

constexpr size_t kAlign = 64;  // a cache line, and an AVX-512 vector

// Rounds up to one of four classes per power of two (waste < 25%), min 64 bytes.
size_t size_class(size_t n) {
  if (n <= 64) return 64;
  size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));  // largest power of 2 below n
  size_t step = std::max<size_t>(p / 4, kAlign);
  return (n + step - 1) / step * step;
}

size_t cache_limit() {
  if (const char* env = std::getenv("KILN_CPU_CACHE_MB")) return size_t(std::atoll(env)) << 20;
  return size_t(4) << 30;
}

class CpuAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    size_t cls = size_class(std::max<size_t>(nbytes, 1));
    std::lock_guard<std::mutex> lock(mu_);
    void* p = nullptr;
    auto it = free_.find(cls);
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= cls;
    } else {
      p = std::aligned_alloc(kAlign, cls);
      if (!p) {
        release_cache_locked();
        p = std::aligned_alloc(kAlign, cls);
      }
      if (!p) throw Error(str_cat("out of CPU memory allocating ", nbytes, " bytes (", stats_.in_use,
                                  " in use)"));
    }
    stats_.in_use += cls;
    stats_.peak = std::max(stats_.peak, stats_.in_use);
    return p;
  }

  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    size_t cls = size_class(std::max<size_t>(nbytes, 1));
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use -= cls;
    if (stats_.cached + cls <= limit_) {
      free_[cls].push_back(p);
      stats_.cached += cls;
    } else {
      std::free(p);
    }
  }

  MemoryStats stats() const override {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }
  void reset_peak() override {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.peak = stats_.in_use;
  }
  void empty_cache() override {
    std::lock_guard<std::mutex> lock(mu_);
    release_cache_locked();
  }

 private:
  void release_cache_locked() {
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) std::free(p);
    free_.clear();
    stats_.cached = 0;
  }

  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
  size_t limit_ = cache_limit();
};

// glibc's malloc gives freed memory at the top of the heap back to the system (and maps large
// blocks afresh each time), so memory that libraries allocate and free inside every call is
// faulted in again each time: oneDNN's GEMM packs its operands into a few hundred KB it mallocs
// per call, about 190 page faults (3% of the GEMM time) in each shakespeare-char training
// step. Keep that memory: heap blocks up to 32 MB (the largest mmap threshold glibc takes), trim
// only above 256 MB free, grow the heap 64 MB at a time. A MALLOC_*_ variable set by the user
// wins over each of these.
void tune_malloc() {
#if defined(__GLIBC__)
  struct Setting {
    int param;
    const char* env;
    int value;
  };
  const Setting settings[] = {{M_MMAP_THRESHOLD, "MALLOC_MMAP_THRESHOLD_", 32 << 20},
                              {M_TRIM_THRESHOLD, "MALLOC_TRIM_THRESHOLD_", 256 << 20},
                              {M_TOP_PAD, "MALLOC_TOP_PAD_", 64 << 20}};
  for (const Setting& s : settings)
    if (!std::getenv(s.env)) mallopt(s.param, s.value);
#endif
}

Allocator*& slot(Device::Type t) {
  static Allocator* slots[Device::kNumTypes] = {};
  return slots[int(t)];
}

}  // namespace

Allocator& allocator_for(Device device) {
  if (device.is_cpu()) {
    static CpuAllocator* cpu = [] {
      tune_malloc();
      return new CpuAllocator;  // never destroyed: tensors may outlive statics
    }();
    return *cpu;
  }
  Allocator* a = slot(device.type);
  if (!a) {  // backends register their allocators with their kernels
    ops::ensure_kernels_registered();
    a = slot(device.type);
  }
  KILN_CHECK(a, "no allocator for device ", device.str(),
             ": this kiln was built without CUDA (configure with -DKILN_CUDA=ON where nvcc is installed)");
  return *a;
}

void register_allocator(Device::Type type, Allocator* allocator) { slot(type) = allocator; }

}  // namespace kiln
