#include "core/base/threads.h"

#include <omp.h>
#include <sched.h>

#include <cstdlib>
#include <string>

#include "core/base/error.h"

namespace kiln {
namespace {

int initial_threads() {
  if (const char* env = std::getenv("KILN_NUM_THREADS"); env && *env) {
    char* end = nullptr;
    long n = std::strtol(env, &end, 10);
    KILN_CHECK(end && *end == '\0' && n >= 1 && n <= 4096,
               "KILN_NUM_THREADS: expected an integer >= 1, got \"", env, "\"");
    return int(n);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return CPU_COUNT(&set);
  return omp_get_num_procs();
}

int& thread_count() {
  static int n = [] {
    int t = initial_threads();
    omp_set_num_threads(t);
    return t;
  }();
  return n;
}

}  // namespace

int num_threads() { return thread_count(); }

void set_num_threads(int n) {
  KILN_CHECK(n >= 1, "set_num_threads: expected n >= 1, got ", n);
  thread_count() = n;
  omp_set_num_threads(n);
}

}  // namespace kiln
