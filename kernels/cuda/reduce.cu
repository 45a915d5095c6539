// Reductions and softmax over a contiguous [outer, n, inner] view, along n.
//
// inner == 1 (rows): one block a row, threads stride over the row, then a fixed tree in shared
// memory. inner > 1 (columns): one thread an (outer, inner) line, walking n; neighbouring
// threads read neighbouring addresses. Both orders are fixed, so results are reproducible.
#include <cfloat>

#include "kernels/cuda/common.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

template <class A>
__device__ __forceinline__ A combine(ReduceOp op, A a, A b) {
  if (op == ReduceOp::sum) return a + b;
  if (op == ReduceOp::max) return (b > a || b != b) ? b : a;
  return (b < a || b != b) ? b : a;
}

template <class A>
__device__ __forceinline__ A identity(ReduceOp op) {
  if (op == ReduceOp::sum) return A(0);
  if constexpr (std::is_floating_point_v<A>) return op == ReduceOp::max ? A(-INFINITY) : A(INFINITY);
  else return op == ReduceOp::max ? A(INT64_MIN) : A(INT64_MAX);
}

// Block-wide reduction of one value a thread; the result is valid in thread 0.
template <class A>
__device__ A block_reduce(ReduceOp op, A v) {
  __shared__ A buf[kThreads];
  buf[threadIdx.x] = v;
  __syncthreads();
  for (int s = kThreads / 2; s > 0; s >>= 1) {
    if (int(threadIdx.x) < s) buf[threadIdx.x] = combine(op, buf[threadIdx.x], buf[threadIdx.x + s]);
    __syncthreads();
  }
  return buf[0];
}

template <class T, class O>
__global__ void reduce_rows(ReduceOp op, O* out, const T* x, int64_t rows) {
  using A = acc_t<T>;
  const T* p = x + int64_t(blockIdx.x) * rows;
  A v = identity<A>(op);
  for (int64_t r = threadIdx.x; r < rows; r += kThreads) v = combine(op, v, load_as<A>(p + r));
  v = block_reduce(op, v);
  if (threadIdx.x == 0) store_as(out + blockIdx.x, v);
}

template <class T, class O>
__global__ void reduce_columns(ReduceOp op, O* out, const T* x, int64_t outer, int64_t rows, int64_t inner) {
  using A = acc_t<T>;
  int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  int64_t o = t / inner, i = t % inner;
  const T* p = x + o * rows * inner + i;
  A v = identity<A>(op);
  for (int64_t r = 0; r < rows; ++r) v = combine(op, v, load_as<A>(p + r * inner));
  store_as(out + t, v);
}

// softmax: y = exp(x - max) / sum; log_softmax: y = x - max - log(sum).
template <class T>
__global__ void softmax_rows(T* y, const T* x, int64_t n, bool log_out) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  const T* p = x + int64_t(blockIdx.x) * n;
  T* q = y + int64_t(blockIdx.x) * n;
  A m = -INFINITY;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) m = fmax(m, load_as<A>(p + j));
  m = block_reduce(ReduceOp::max, m);
  __syncthreads();
  A s = 0;
  for (int64_t j = threadIdx.x; j < n; j += kThreads) s += exp(load_as<A>(p + j) - m);
  s = block_reduce(ReduceOp::sum, s);
  const A ls = log(s);
  for (int64_t j = threadIdx.x; j < n; j += kThreads) {
    A v = load_as<A>(p + j) - m;
    store_as(q + j, log_out ? v - ls : exp(v - ls));
  }
}

template <class T>
__global__ void softmax_columns(T* y, const T* x, int64_t outer, int64_t n, int64_t inner, bool log_out) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  int64_t o = t / inner, i = t % inner;
  const T* p = x + o * n * inner + i;
  T* q = y + o * n * inner + i;
  A m = -INFINITY, s = 0;
  for (int64_t j = 0; j < n; ++j) m = fmax(m, load_as<A>(p + j * inner));
  for (int64_t j = 0; j < n; ++j) s += exp(load_as<A>(p + j * inner) - m);
  const A ls = log(s);
  for (int64_t j = 0; j < n; ++j) {
    A v = load_as<A>(p + j * inner) - m;
    store_as(q + j * inner, log_out ? v - ls : exp(v - ls));
  }
}

// softmax backward: dx = y (g - sum(g y)); log_softmax: dx = g - exp(y) sum(g).
template <class T>
__global__ void softmax_grad_lines(T* dx, const T* g, const T* y, int64_t outer, int64_t n, int64_t inner, bool log_in) {
  using A = std::conditional_t<std::is_same_v<T, double>, double, float>;
  int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= outer * inner) return;
  int64_t o = t / inner, i = t % inner, base = o * n * inner + i;
  A s = 0;
  for (int64_t j = 0; j < n; ++j) {
    A gj = load_as<A>(g + base + j * inner);
    s += log_in ? gj : gj * load_as<A>(y + base + j * inner);
  }
  for (int64_t j = 0; j < n; ++j) {
    int64_t k = base + j * inner;
    A gj = load_as<A>(g + k), yj = load_as<A>(y + k);
    store_as(dx + k, log_in ? gj - exp(yj) * s : yj * (gj - s));
  }
}

}  // namespace

void reduce(ReduceOp op, DType dtype, void* out, const void* x, int64_t outer, int64_t rows, int64_t inner) {
  if (outer * inner == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    // Integer sums are i64, like the CPU's.
    using O = std::conditional_t<!is_floating_v<T> && true, T, T>;
    auto launch = [&](auto* o) {
      if (inner == 1) reduce_rows<<<unsigned(outer), kThreads>>>(op, o, static_cast<const T*>(x), rows);
      else reduce_columns<<<blocks_for(outer * inner, kThreads), kThreads>>>(op, o, static_cast<const T*>(x), outer, rows, inner);
    };
    if (!is_floating_v<T> && op == ReduceOp::sum) launch(static_cast<int64_t*>(out));
    else launch(static_cast<O*>(out));
  });
}

void softmax(DType dtype, void* y, const void* x, int64_t outer, int64_t n, int64_t inner, bool log) {
  if (outer * inner * n == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (is_floating_v<T>) {
      if (inner == 1) softmax_rows<<<unsigned(outer), kThreads>>>(static_cast<T*>(y), static_cast<const T*>(x), n, log);
      else
        softmax_columns<<<blocks_for(outer * inner, kThreads), kThreads>>>(static_cast<T*>(y), static_cast<const T*>(x),
                                                                          outer, n, inner, log);
    }
  });
}

void softmax_grad(DType dtype, void* dx, const void* g, const void* y, int64_t outer, int64_t n, int64_t inner,
                  bool log) {
  if (outer * inner * n == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (is_floating_v<T>)
      softmax_grad_lines<<<blocks_for(outer * inner, kThreads), kThreads>>>(
          static_cast<T*>(dx), static_cast<const T*>(g), static_cast<const T*>(y), outer, n, inner, log);
  });
}

}  // namespace kiln::cuda
