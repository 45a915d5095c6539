// The thread count used by kiln's OpenMP loops and by oneDNN (the same GNU OpenMP runtime).
#pragma once

#include <cstdint>

namespace kiln {

/// Threads used by parallel kernels: KILN_NUM_THREADS if set, else the cores this process may
/// run on. Read once, on first use.
int num_threads();
/// Sets the thread count for kiln and oneDNN (omp_set_num_threads).
void set_num_threads(int n);

/// Scope guard that changes the thread count and restores it.
class ThreadCountGuard {
 public:
  explicit ThreadCountGuard(int n) : saved_(num_threads()) { set_num_threads(n); }
  ~ThreadCountGuard() { set_num_threads(saved_); }
  ThreadCountGuard(const ThreadCountGuard&) = delete;
  ThreadCountGuard& operator=(const ThreadCountGuard&) = delete;

 private:
  int saved_;
};

}  // namespace kiln
