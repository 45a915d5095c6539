// CPU kernel of the matrix products: turns the op's strided, broadcast operands into calls of
// the pointer GEMM (kernels/cpu/gemm.h), one call per outer batch index that does not fold.
#include <exception>
#include <vector>

#include "core/base/threads.h"
#include "core/ops/batch_invariant.h"
#include "core/ops/cpu/register.h"
#include "core/ops/linalg_kernels.h"
#include "core/tensor/allocator.h"
#include "kernels/cpu/gemm.h"

namespace kiln::ops::cpu {
namespace {

void matmul_cpu(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias) {
  const int64_t M = out.size(-2), N = out.size(-1), K = a.size(-1);
  std::vector<BatchDim> dims = coalesced_batch(out, a, b);
  kiln::cpu::GemmArgs g;
  g.dtype = out.dtype();
  g.m = M, g.n = N, g.k = K;
  g.a_rs = a.stride(-2), g.a_cs = a.stride(-1);
  g.b_rs = b.stride(-2), g.b_cs = b.stride(-1);
  g.c_rs = out.stride(-2);
  g.threads = num_threads();
  g.batch_invariant = batch_invariant();
  g.bias = bias.defined() ? bias.data_ptr() : nullptr;
  if (!dims.empty()) {  // the innermost batch dim goes to the GEMM, the others are looped here
    const BatchDim& in = dims.back();
    g.batch = in.size, g.a_bs = in.a, g.b_bs = in.b, g.c_bs = in.c;
    dims.pop_back();
  }
  const size_t es = out.itemsize();
  const char* pa = static_cast<const char*>(a.data_ptr());
  const char* pb = static_cast<const char*>(b.data_ptr());
  char* pc = static_cast<char*>(out.data_ptr());
  for_each_batch(dims, [&](int64_t oa, int64_t ob, int64_t oc) {
    g.a = pa + oa * int64_t(es);
    g.b = pb + ob * int64_t(es);
    g.c = pc + oc * int64_t(es);
    try {
      kiln::cpu::gemm(g);
    } catch (const std::exception& e) {  // the op hands over valid layouts: this is a bug or OOM
      KILN_FAIL("matmul: ", e.what(), " (out ", out.shape(), ", a strides ", a.strides(),
                ", b strides ", b.strides(), ")");
    }
  });
}

void* gemm_alloc(size_t n) {
  return allocator_for(Device::cpu()).allocate(n);
}
void gemm_free(void* p, size_t n) {
  allocator_for(Device::cpu()).deallocate(p, n);
}

}  // namespace

void register_matmul() {
  // Conversion buffers and oneDNN scratchpads come from kiln's caching allocator, so they show
  // in memory_stats() and are reused between calls.
  kiln::cpu::set_gemm_allocator(&gemm_alloc, &gemm_free);
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16})
    matmul_kernels.set(Device::Type::cpu, t, &matmul_cpu);
}

}  // namespace kiln::ops::cpu
