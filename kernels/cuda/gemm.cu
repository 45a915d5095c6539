// Matrix products through cuBLAS.
//
// cuBLAS is column-major. A row-major C (M x N) is a column-major C^T (N x M), and
// C^T = B^T A^T: so the call computes C^T with B^T as its first operand and A^T as its second,
// each either a plain column-major matrix or a transposed one depending on which of the
// row-major operand's strides is 1.
#include <cublas_v2.h>

#include <mutex>

#include "kernels/cuda/common.cuh"

namespace kiln::cuda {
namespace {

cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t x = nullptr;
    cublasCreate(&x);
    return x;
  }();
  return h;
}

template <class T>
__global__ void add_bias_kernel(T* out, const T* bias, int64_t rows, int64_t cols) {
  int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= rows * cols) return;
  using A = acc_t<T>;
  store_as(out + t, load_as<A>(out + t) + load_as<A>(bias + t % cols));
}

// A row-major operand with element (r, c) at r*rs + c*cs, as a column-major cuBLAS operand of
// its transpose: if cs == 1 the memory is the column-major transpose (op N, ld = rs); if rs == 1
// it is the column-major matrix itself (op T, ld = cs).
void as_cublas(int64_t rs, int64_t cs, int64_t cols, cublasOperation_t* op, int64_t* ld) {
  if (cs == 1 && (rs >= cols || rs == 0)) {
    *op = CUBLAS_OP_N;
    *ld = rs > 0 ? rs : cols;
  } else {
    *op = CUBLAS_OP_T;
    *ld = cs;
  }
}

}  // namespace

void gemm(DType dtype, const GemmArgs& g) {
  // C^T (N x M) = B^T (N x K) @ A^T (K x M).
  cublasOperation_t opb, opa;
  int64_t ldb, lda;
  as_cublas(g.b_rs, g.b_cs, g.n, &opb, &ldb);
  as_cublas(g.a_rs, g.a_cs, g.k, &opa, &lda);
  if (opb == CUBLAS_OP_T && ldb < g.k) ldb = g.k;
  if (opa == CUBLAS_OP_T && lda < g.m) lda = g.m;
  const float one = 1.0f, zero = 0.0f;
  const double one64 = 1.0, zero64 = 0.0;
  cudaDataType_t t;
  cublasComputeType_t compute = CUBLAS_COMPUTE_32F;
  const void* alpha = &one;
  const void* beta = &zero;
  switch (dtype) {
    case DType::f32: t = CUDA_R_32F; break;
    case DType::bf16: t = CUDA_R_16BF; break;
    case DType::f16: t = CUDA_R_16F; break;
    default:
      t = CUDA_R_64F;
      compute = CUBLAS_COMPUTE_64F;
      alpha = &one64;
      beta = &zero64;
  }
  cublasGemmStridedBatchedEx(handle(), opb, opa, int(g.n), int(g.m), int(g.k), alpha, g.b, t, int(ldb), g.b_bs, g.a, t,
                             int(lda), g.a_bs, beta, g.c, t, int(g.ldc), g.c_bs, int(g.batch), compute,
                             CUBLAS_GEMM_DEFAULT);
}

void add_bias(DType dtype, void* out, const void* bias, int64_t rows, int64_t cols) {
  if (rows * cols == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (is_floating_v<T>)
      add_bias_kernel<<<blocks_for(rows * cols, 256), 256>>>(static_cast<T*>(out), static_cast<const T*>(bias), rows, cols);
  });
}

}  // namespace kiln::cuda
