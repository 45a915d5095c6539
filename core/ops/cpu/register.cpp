#include "core/ops/cpu/register.h"

#include <mutex>

#include "core/ops/dispatch.h"
#ifdef KILN_HAS_CUDA
#include "core/ops/cuda/backend.h"
#endif

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
#ifdef KILN_HAS_CUDA
    cuda_backend::register_backend();
#endif
  });
}

}  // namespace kiln::ops
