// The CUDA backend's glue: a caching device allocator, copies between the CPU and the device,
// and the kernel-table entries that turn Tensors into the pointer launchers of kernels/cuda.
// Built only when KILN_CUDA is on; registered by ops::ensure_kernels_registered().
#include "core/ops/cuda/backend.h"

#include <algorithm>
#include <array>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/ops/elementwise_kernels.h"
#include "core/ops/linalg_kernels.h"
#include "core/ops/reduce_kernels.h"
#include "core/ops/softmax_kernels.h"
#include "core/tensor/allocator.h"
#include "core/tensor/copy.h"
#include "kernels/cpu/strided_loop.h"
#include "kernels/cuda/cuda_api.h"

namespace kiln::ops::cuda_backend {
namespace {

using Type = Device::Type;

void check(const char* what) {
  const char* e = cuda::last_error();
  KILN_CHECK(!*e, "cuda: ", what, ": ", e);
}

// ---- memory -------------------------------------------------------------------------------------

// Caches freed blocks by size class, as the CPU allocator does: cudaMalloc and cudaFree
// synchronise the device, which a training step must not do for every activation.
class CudaAllocator final : public Allocator {
 public:
  void* allocate(size_t nbytes) override {
    static const bool present = cuda::device_count() > 0;
    KILN_CHECK(present, "cuda: no CUDA device present (this machine's driver reports none), so no tensor can be "
               "allocated on cuda:0");
    size_t cls = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    auto it = free_.find(cls);
    void* p = nullptr;
    if (it != free_.end() && !it->second.empty()) {
      p = it->second.back();
      it->second.pop_back();
      stats_.cached -= cls;
    } else {
      p = cuda::device_malloc(cls);
      if (!p) {
        release_locked();
        p = cuda::device_malloc(cls);
      }
      KILN_CHECK(p, "out of CUDA memory allocating ", nbytes, " bytes (", stats_.in_use, " in use)");
    }
    stats_.in_use += cls;
    stats_.peak = std::max(stats_.peak, stats_.in_use);
    return p;
  }
  void deallocate(void* p, size_t nbytes) override {
    if (!p) return;
    size_t cls = size_class(nbytes);
    std::lock_guard<std::mutex> lock(mu_);
    stats_.in_use -= cls;
    free_[cls].push_back(p);  // the default stream orders reuse after earlier kernels
    stats_.cached += cls;
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
    release_locked();
  }

 private:
  static size_t size_class(size_t n) {
    if (n <= 512) return 512;
    size_t p = size_t(1) << (63 - __builtin_clzll(n - 1));
    size_t step = std::max<size_t>(p / 4, 512);
    return (n + step - 1) / step * step;
  }
  void release_locked() {
    cuda::synchronize();
    for (auto& [cls, blocks] : free_)
      for (void* p : blocks) cuda::device_free(p);
    free_.clear();
    stats_.cached = 0;
  }
  mutable std::mutex mu_;
  std::unordered_map<size_t, std::vector<void*>> free_;
  MemoryStats stats_;
};

// ---- strided launches ---------------------------------------------------------------------------

template <int N>
cuda::Strided<N> strided(const std::array<const Tensor*, N>& ts) {
  const Shape& shape = ts[0]->shape();
  std::array<const int64_t*, N> st;
  for (int k = 0; k < N; ++k) {
    KILN_CHECK(ts[k]->shape() == shape, "internal: cuda operand ", k, " of shape ", ts[k]->shape(),
               " is not broadcast to ", shape);
    st[size_t(k)] = ts[k]->strides().data();
  }
  kiln::cpu::StridedLayout<N> layout(int(shape.size()), shape.data(), st);  // coalesces dims
  KILN_CHECK(layout.ndim <= cuda::kMaxDims, "cuda: operands with more than ", cuda::kMaxDims,
             " non-mergeable dims are not supported (shape ", shape, ")");
  cuda::Strided<N> s;
  s.ndim = layout.ndim;
  s.numel = shape_numel(shape);
  for (int d = 0; d < layout.ndim; ++d) {
    s.size[d] = layout.shape[d];
    for (int k = 0; k < N; ++k) s.stride[k][d] = layout.strides[k][d];
  }
  for (int k = 0; k < N; ++k) s.ptr[k] = ts[size_t(k)]->data_ptr();
  return s;
}

// ---- copies -------------------------------------------------------------------------------------

// src broadcast to dst's shape, strides in elements (zero where broadcast).
Tensor broadcast_as(const Tensor& src, const Shape& shape) {
  Strides st(shape.size(), 0);
  const size_t off = shape.size() - size_t(src.dim());
  for (int64_t i = 0; i < src.dim(); ++i)
    st[off + size_t(i)] = src.size(i) == 1 ? 0 : src.stride(i);
  return make_view(src.storage(), shape, st, src.offset(), src.dtype());
}

void device_to_device(const Tensor& dst, const Tensor& src) {
  Tensor s = broadcast_as(src, dst.shape());
  cuda::convert(dst.dtype(), src.dtype(), strided<2>({&dst, &s}));
  check("copy");
}

// Copies between the CPU and the device, and on the device; dtypes may differ and src is
// broadcast to dst's shape. Only contiguous bytes cross the bus.
void device_copy(const Tensor& dst, const Tensor& src) {
  if (dst.device().is_cuda() && src.device().is_cuda()) return device_to_device(dst, src);
  if (dst.device().is_cuda()) {
    Tensor host = src.contiguous();  // src's own (small, unbroadcast) extent
    Tensor staged = empty(host.shape(), host.dtype(), dst.device());
    cuda::copy_to_device(staged.data_ptr(), host.data_ptr(), host.nbytes());
    check("copy to device");
    return device_to_device(dst, staged);
  }
  // To the CPU: make a contiguous device copy in dst's dtype and shape, then bring it over.
  Tensor staged = empty(dst.shape(), dst.dtype(), src.device());
  device_to_device(staged, src);
  if (dst.is_contiguous()) {
    cuda::copy_to_host(dst.data_ptr(), staged.data_ptr(), dst.nbytes());
  } else {
    Tensor host = empty(dst.shape(), dst.dtype());
    cuda::copy_to_host(host.data_ptr(), staged.data_ptr(), host.nbytes());
    copy_elements(dst, host);
  }
  check("copy to host");
}

// ---- kernels ------------------------------------------------------------------------------------

void unary_cuda(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  cuda::unary(op, out.dtype(), strided<2>({&out, &x}), p0, p1);
  check(op_name(op));
}

void unary_grad_cuda(UnaryOp op, const Tensor& dx, const Tensor& g, const Tensor& x, const Tensor& y, double p0,
                     double p1) {
  cuda::unary_grad(op, dx.dtype(), strided<4>({&dx, &g, &x, &y}), p0, p1);
  check(op_name(op));
}

void binary_cuda(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  cuda::binary(op, out.dtype(), strided<3>({&out, &a, &b}));
  check(op_name(op));
}

void compare_cuda(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  cuda::compare(op, a.dtype(), strided<3>({&out, &a, &b}));
  check(op_name(op));
}

void where_cuda(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  cuda::where(out.dtype(), strided<4>({&out, &cond, &a, &b}));
  check("where");
}

void reduce_cuda(ReduceOp op, const Tensor& out, const Tensor& x, int64_t outer, int64_t rows, int64_t inner) {
  cuda::reduce(op, x.dtype(), out.data_ptr(), x.data_ptr(), outer, rows, inner);
  check("reduce");
}

void softmax_cuda(const Tensor& y, const Tensor& x, int64_t outer, int64_t n, int64_t inner, bool log) {
  cuda::softmax(x.dtype(), y.data_ptr(), x.data_ptr(), outer, n, inner, log);
  check(log ? "log_softmax" : "softmax");
}

void softmax_grad_cuda(const Tensor& dx, const Tensor& g, const Tensor& y, int64_t outer, int64_t n, int64_t inner,
                       bool log) {
  cuda::softmax_grad(dx.dtype(), dx.data_ptr(), g.data_ptr(), y.data_ptr(), outer, n, inner, log);
  check(log ? "log_softmax backward" : "softmax backward");
}

void matmul_cuda(const Tensor& out, const Tensor& a, const Tensor& b, const Tensor& bias) {
  std::vector<BatchDim> dims = coalesced_batch(out, a, b);
  cuda::GemmArgs g{};
  g.m = out.size(-2), g.n = out.size(-1), g.k = a.size(-1);
  g.a_rs = a.stride(-2), g.a_cs = a.stride(-1);
  g.b_rs = b.stride(-2), g.b_cs = b.stride(-1);
  g.ldc = out.stride(-2);
  g.batch = 1;
  if (!dims.empty()) {  // the innermost batch dim goes to the batched GEMM, the rest loop here
    const BatchDim& in = dims.back();
    g.batch = in.size, g.a_bs = in.a, g.b_bs = in.b, g.c_bs = in.c;
    dims.pop_back();
  }
  const int64_t es = int64_t(out.itemsize());
  const char* pa = static_cast<const char*>(a.data_ptr());
  const char* pb = static_cast<const char*>(b.data_ptr());
  char* pc = static_cast<char*>(out.data_ptr());
  for_each_batch(dims, [&](int64_t oa, int64_t ob, int64_t oc) {
    g.a = pa + oa * es;
    g.b = pb + ob * es;
    g.c = pc + oc * es;
    cuda::gemm(out.dtype(), g);
  });
  check("matmul");
  if (bias.defined()) {
    cuda::add_bias(out.dtype(), out.data_ptr(), bias.data_ptr(), out.numel() / g.n, g.n);
    check("matmul bias");
  }
}

template <class T>
void register_floating() {
  constexpr DType t = dtype_v<T>;
  unary_kernels.set(Type::cuda, t, &unary_cuda);
  unary_grad_kernels.set(Type::cuda, t, &unary_grad_cuda);
  softmax_kernels.set(Type::cuda, t, &softmax_cuda);
  softmax_grad_kernels.set(Type::cuda, t, &softmax_grad_cuda);
  matmul_kernels.set(Type::cuda, t, &matmul_cuda);
}

}  // namespace

bool available() { return cuda::device_count() > 0; }

void register_backend() {
  static CudaAllocator* allocator = new CudaAllocator;  // never destroyed, like the CPU's
  register_allocator(Type::cuda, allocator);
  register_device_copy(Type::cuda, &device_copy);
  register_floating<double>();
  register_floating<float>();
  register_floating<bf16>();
  register_floating<f16>();
  for (DType t : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64})
    binary_kernels.set(Type::cuda, t, &binary_cuda);
  for (int i = 0; i < kNumDTypes; ++i) {
    compare_kernels.set(Type::cuda, DType(i), &compare_cuda);
    where_kernels.set(Type::cuda, DType(i), &where_cuda);
    reduce_kernels.set(Type::cuda, DType(i), &reduce_cuda);
  }
}

}  // namespace kiln::ops::cuda_backend
