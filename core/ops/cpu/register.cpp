#include "core/ops/cpu/register.h"

#include <mutex>

#include "core/ops/dispatch.h"

namespace kiln::ops {

void ensure_kernels_registered() {
  static std::once_flag once;
  std::call_once(once, [] {
    cpu::register_elementwise();
    cpu::register_reduce();
    cpu::register_softmax();
    cpu::register_matmul();
    cpu::register_norm();
    cpu::register_loss();
    cpu::register_index();
    cpu::register_attention();
  });
}

}  // namespace kiln::ops
