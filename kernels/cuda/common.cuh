// Device-side helpers of the CUDA kernels: storage types per dtype, conversion through the
// compute type (f64 for f64, f32 otherwise), strided indexing, and dtype dispatch.
#pragma once

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cstdint>
#include <type_traits>

#include "kernels/cuda/cuda_api.h"

namespace kiln::cuda {

template <class T> struct acc { using type = float; };
template <> struct acc<double> { using type = double; };
template <> struct acc<int32_t> { using type = int64_t; };
template <> struct acc<int64_t> { using type = int64_t; };
template <> struct acc<uint8_t> { using type = int64_t; };
template <> struct acc<bool> { using type = int64_t; };
template <class T> using acc_t = typename acc<T>::type;

// Loads and stores through the compute type; bf16/f16 round to nearest even, as on the CPU.
template <class A, class T>
__device__ __forceinline__ A load_as(const T* p) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) return A(__bfloat162float(*p));
  else if constexpr (std::is_same_v<T, __half>) return A(__half2float(*p));
  else if constexpr (std::is_same_v<T, bool>) return A(*p ? 1 : 0);
  else return A(*p);
}
template <class T, class A>
__device__ __forceinline__ void store_as(T* p, A v) {
  if constexpr (std::is_same_v<T, __nv_bfloat16>) *p = __float2bfloat16_rn(float(v));
  else if constexpr (std::is_same_v<T, __half>) *p = __float2half_rn(float(v));
  else if constexpr (std::is_same_v<T, bool>) *p = v != A(0);
  else *p = T(v);
}

/// Element offsets of flat index i for each operand.
template <int N>
__device__ __forceinline__ void offsets(const Strided<N>& s, int64_t i, int64_t (&off)[N]) {
  for (int k = 0; k < N; ++k) off[k] = 0;
  for (int d = s.ndim - 1; d >= 0; --d) {
    int64_t idx = i % s.size[d];
    i /= s.size[d];
    for (int k = 0; k < N; ++k) off[k] += idx * s.stride[k][d];
  }
}

/// The offsets of this thread's element (one thread per element, a 1-D grid); false for the
/// threads past the end, which have nothing to do.
template <int N>
__device__ __forceinline__ bool element_offsets(const Strided<N>& s, int64_t (&off)[N]) {
  int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= s.numel) return false;
  offsets(s, i, off);
  return true;
}

inline unsigned blocks_for(int64_t n, int threads) { return unsigned((n + threads - 1) / threads); }

/// Calls f(T{}) with T the device storage type of dtype (floating dtypes only when `floating`).
template <class F>
void dispatch_device(DType dtype, F&& f) {
  switch (dtype) {
    case DType::f64: f(double{}); break;
    case DType::f32: f(float{}); break;
    case DType::bf16: f(__nv_bfloat16{}); break;
    case DType::f16: f(__half{}); break;
    case DType::i32: f(int32_t{}); break;
    case DType::i64: f(int64_t{}); break;
    case DType::u8: f(uint8_t{}); break;
    case DType::boolean: f(bool{}); break;
  }
}

template <class T>
inline constexpr bool is_floating_v = std::is_floating_point_v<T> || std::is_same_v<T, __nv_bfloat16> ||
                                      std::is_same_v<T, __half>;

}  // namespace kiln::cuda
