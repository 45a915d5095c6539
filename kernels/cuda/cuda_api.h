// The CUDA backend's kernels, callable from host C++ without CUDA headers: device management,
// memory, and pointer-level launchers (one function a family). Implemented in kernels/cuda/*.cu.
//
// Every launcher runs on the current device's default stream and returns at once; errors of a
// launch are reported by the next call of check_last_error() (the glue calls it after each op).
#pragma once

#include <cstddef>
#include <cstdint>

#include "core/tensor/dtype.h"
#include "kernels/op_codes.h"

namespace kiln::cuda {

/// Devices the driver reports; 0 when there is no driver or no device (never throws).
int device_count();
void set_device(int index);
void synchronize();
/// The message of the last error of a launch or call ("" when none); clears it.
const char* last_error();

void* device_malloc(size_t bytes);  ///< null when out of memory
void device_free(void* p);
void copy_to_device(void* dst, const void* src, size_t bytes);
void copy_to_host(void* dst, const void* src, size_t bytes);
void copy_on_device(void* dst, const void* src, size_t bytes);

/// Legend of a strided launch: N operands of one n-d shape (operand 0 is written), strides in
/// ELEMENTS, at most kMaxDims dims after coalescing.
inline constexpr int kMaxDims = 8;
template <int N>
struct Strided {
  int ndim = 0;
  int64_t numel = 0;
  int64_t size[kMaxDims] = {};
  int64_t stride[N][kMaxDims] = {};
  void* ptr[N] = {};
};

// ---- elementwise (math as kernels/cpu/elementwise.h; operands share one dtype) ----------------
void unary(UnaryOp op, DType dtype, const Strided<2>& a, double p0, double p1);
/// dx = g * f'(x): operands dx, g, x, y.
void unary_grad(UnaryOp op, DType dtype, const Strided<4>& a, double p0, double p1);
void binary(BinaryOp op, DType dtype, const Strided<3>& a);
/// Output bool; inputs of `dtype`.
void compare(CompareOp op, DType dtype, const Strided<3>& a);
/// out = cond ? a : b: operands out, cond (bool), a, b.
void where(DType dtype, const Strided<4>& a);
/// Element conversion between any two dtypes (operand 0 of dst_dtype, operand 1 of src_dtype).
void convert(DType dst_dtype, DType src_dtype, const Strided<2>& a);

// ---- reductions and softmax over a contiguous [outer, n, inner] view -------------------------
void reduce(ReduceOp op, DType dtype, void* out, const void* x, int64_t outer, int64_t rows, int64_t inner);
void softmax(DType dtype, void* y, const void* x, int64_t outer, int64_t n, int64_t inner, bool log);
void softmax_grad(DType dtype, void* dx, const void* g, const void* y, int64_t outer, int64_t n, int64_t inner,
                  bool log);

// ---- matrix products (cuBLAS) ----------------------------------------------------------------
/// Row-major C[b] (M x N, leading dim ldc) = op(A[b]) (M x K) @ op(B[b]) (K x N) for b < batch,
/// A element (m, k) at A + m*a_rs + k*a_cs (likewise B): one of each pair of strides is 1.
/// Batch strides in elements (0 = shared). f32, f64, bf16 and f16 (accumulated in f32).
struct GemmArgs {
  int64_t m, n, k, batch;
  const void* a;
  int64_t a_rs, a_cs, a_bs;
  const void* b;
  int64_t b_rs, b_cs, b_bs;
  void* c;
  int64_t ldc, c_bs;
};
void gemm(DType dtype, const GemmArgs& g);
/// out[r, c] += bias[c] for rows x cols contiguous out.
void add_bias(DType dtype, void* out, const void* bias, int64_t rows, int64_t cols);

}  // namespace kiln::cuda
