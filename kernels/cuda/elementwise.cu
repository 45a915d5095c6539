// Elementwise kernels: one thread an element, strided operands, the math of
// kernels/cpu/elementwise.h (which is the reference the CUDA tests compare with).
#include "kernels/cuda/common.cuh"

namespace kiln::cuda {
namespace {

constexpr int kThreads = 256;

template <class A>
__device__ __forceinline__ A sigmoid_of(A x) {
  return A(1) / (A(1) + exp(-x));
}

constexpr double kGeluTanhScale = 0.7978845608028654;  // sqrt(2/pi)
constexpr double kGeluTanhCubic = 0.044715;
constexpr double kInvSqrt2 = 0.7071067811865476;
constexpr double kInvSqrt2Pi = 0.3989422804014327;

template <UnaryOp op, class A>
__device__ __forceinline__ A unary_fn(A x, A p0, A p1) {
  if constexpr (op == UnaryOp::neg) return -x;
  else if constexpr (op == UnaryOp::exp) return exp(x);
  else if constexpr (op == UnaryOp::log) return log(x);
  else if constexpr (op == UnaryOp::sqrt) return sqrt(x);
  else if constexpr (op == UnaryOp::rsqrt) return A(1) / sqrt(x);
  else if constexpr (op == UnaryOp::abs) return fabs(x);
  else if constexpr (op == UnaryOp::sign) return A((x > A(0)) - (x < A(0)));
  else if constexpr (op == UnaryOp::square) return x * x;
  else if constexpr (op == UnaryOp::sin) return sin(x);
  else if constexpr (op == UnaryOp::cos) return cos(x);
  else if constexpr (op == UnaryOp::reciprocal) return A(1) / x;
  else if constexpr (op == UnaryOp::relu) return x > A(0) || x != x ? x : A(0);
  else if constexpr (op == UnaryOp::gelu) return A(0.5) * x * erfc(-x * A(kInvSqrt2));
  else if constexpr (op == UnaryOp::gelu_tanh)
    return A(0.5) * x * (A(1) + tanh(A(kGeluTanhScale) * (x + A(kGeluTanhCubic) * x * x * x)));
  else if constexpr (op == UnaryOp::silu) return x * sigmoid_of(x);
  else if constexpr (op == UnaryOp::sigmoid) return sigmoid_of(x);
  else if constexpr (op == UnaryOp::tanh) return tanh(x);
  else if constexpr (op == UnaryOp::softplus) {
    A bx = p0 * x;
    return bx > p1 ? x : (fmax(bx, A(0)) + log1p(exp(-fabs(bx)))) / p0;
  } else if constexpr (op == UnaryOp::clamp) return x < p0 ? p0 : (x > p1 ? p1 : x);
  else if constexpr (op == UnaryOp::pow_scalar) return pow(x, p0);
  else return x * p0 + p1;  // affine
}

template <UnaryOp op, class A>
__device__ __forceinline__ A unary_grad_fn(A x, A y, A p0, A p1) {
  if constexpr (op == UnaryOp::neg) return A(-1);
  else if constexpr (op == UnaryOp::exp) return y;
  else if constexpr (op == UnaryOp::log) return A(1) / x;
  else if constexpr (op == UnaryOp::sqrt) return A(0.5) / y;
  else if constexpr (op == UnaryOp::rsqrt) return A(-0.5) * y * y * y;
  else if constexpr (op == UnaryOp::abs) return A((x > A(0)) - (x < A(0)));
  else if constexpr (op == UnaryOp::sign) return A(0);
  else if constexpr (op == UnaryOp::square) return A(2) * x;
  else if constexpr (op == UnaryOp::sin) return cos(x);
  else if constexpr (op == UnaryOp::cos) return -sin(x);
  else if constexpr (op == UnaryOp::reciprocal) return -y * y;
  else if constexpr (op == UnaryOp::relu) return x > A(0) ? A(1) : A(0);
  else if constexpr (op == UnaryOp::gelu) {
    A cdf = A(0.5) * erfc(-x * A(kInvSqrt2));
    return cdf + x * A(kInvSqrt2Pi) * exp(A(-0.5) * x * x);
  } else if constexpr (op == UnaryOp::gelu_tanh) {
    A u = A(kGeluTanhScale) * (x + A(kGeluTanhCubic) * x * x * x);
    A t = tanh(u);
    return A(0.5) * (A(1) + t) + A(0.5) * x * (A(1) - t * t) * A(kGeluTanhScale) * (A(1) + A(3 * kGeluTanhCubic) * x * x);
  } else if constexpr (op == UnaryOp::silu) {
    A s = sigmoid_of(x);
    return s * (A(1) + x * (A(1) - s));
  } else if constexpr (op == UnaryOp::sigmoid) return y * (A(1) - y);
  else if constexpr (op == UnaryOp::tanh) return A(1) - y * y;
  else if constexpr (op == UnaryOp::softplus) return p0 * x > p1 ? A(1) : sigmoid_of(p0 * x);
  else if constexpr (op == UnaryOp::clamp) return (x >= p0 && x <= p1) ? A(1) : A(0);
  else if constexpr (op == UnaryOp::pow_scalar) return p0 == A(0) ? A(0) : p0 * pow(x, p0 - A(1));
  else return p0;  // affine
}

template <BinaryOp op, class A>
__device__ __forceinline__ A binary_fn(A a, A b) {
  if constexpr (op == BinaryOp::add) return a + b;
  else if constexpr (op == BinaryOp::sub) return a - b;
  else if constexpr (op == BinaryOp::mul) return a * b;
  else if constexpr (op == BinaryOp::div) return a / b;
  else if constexpr (op == BinaryOp::pow) return A(pow(double(a), double(b)));
  else if constexpr (op == BinaryOp::maximum) return (a != a || a > b) ? a : b;
  else return (a != a || a < b) ? a : b;  // minimum
}

template <CompareOp op, class A>
__device__ __forceinline__ bool compare_fn(A a, A b) {
  if constexpr (op == CompareOp::eq) return a == b;
  else if constexpr (op == CompareOp::ne) return a != b;
  else if constexpr (op == CompareOp::lt) return a < b;
  else if constexpr (op == CompareOp::le) return a <= b;
  else if constexpr (op == CompareOp::gt) return a > b;
  else if constexpr (op == CompareOp::ge) return a >= b;
  else if constexpr (op == CompareOp::logical_and) return a != A(0) && b != A(0);
  else return a != A(0) || b != A(0);
}

template <UnaryOp op, class T>
__global__ void unary_kernel(Strided<2> s, double p0, double p1) {
  using A = acc_t<T>;
  int64_t off[2];
  if (!element_offsets(s, off)) return;
  A x = load_as<A>(static_cast<const T*>(s.ptr[1]) + off[1]);
  store_as(static_cast<T*>(s.ptr[0]) + off[0], unary_fn<op, A>(x, A(p0), A(p1)));
}

template <UnaryOp op, class T>
__global__ void unary_grad_kernel(Strided<4> s, double p0, double p1) {
  using A = acc_t<T>;
  int64_t off[4];
  if (!element_offsets(s, off)) return;
  A g = load_as<A>(static_cast<const T*>(s.ptr[1]) + off[1]);
  A x = load_as<A>(static_cast<const T*>(s.ptr[2]) + off[2]);
  A y = load_as<A>(static_cast<const T*>(s.ptr[3]) + off[3]);
  store_as(static_cast<T*>(s.ptr[0]) + off[0], g * unary_grad_fn<op, A>(x, y, A(p0), A(p1)));
}

template <BinaryOp op, class T>
__global__ void binary_kernel(Strided<3> s) {
  using A = acc_t<T>;
  int64_t off[3];
  if (!element_offsets(s, off)) return;
  A a = load_as<A>(static_cast<const T*>(s.ptr[1]) + off[1]);
  A b = load_as<A>(static_cast<const T*>(s.ptr[2]) + off[2]);
  store_as(static_cast<T*>(s.ptr[0]) + off[0], binary_fn<op, A>(a, b));
}

template <CompareOp op, class T>
__global__ void compare_kernel(Strided<3> s) {
  using A = acc_t<T>;
  int64_t off[3];
  if (!element_offsets(s, off)) return;
  A a = load_as<A>(static_cast<const T*>(s.ptr[1]) + off[1]);
  A b = load_as<A>(static_cast<const T*>(s.ptr[2]) + off[2]);
  static_cast<bool*>(s.ptr[0])[off[0]] = compare_fn<op, A>(a, b);
}

template <class T>
__global__ void where_kernel(Strided<4> s) {
  int64_t off[4];
  if (!element_offsets(s, off)) return;
  bool c = static_cast<const bool*>(s.ptr[1])[off[1]];
  static_cast<T*>(s.ptr[0])[off[0]] = c ? static_cast<const T*>(s.ptr[2])[off[2]] : static_cast<const T*>(s.ptr[3])[off[3]];
}

template <class D, class S>
__global__ void convert_kernel(Strided<2> s) {
  int64_t off[2];
  if (!element_offsets(s, off)) return;
  // Through f64 for integers (exact), f32/f64 for floats (bf16/f16 round to nearest even).
  using Mid = std::conditional_t<std::is_same_v<D, double> || std::is_same_v<S, double> || !is_floating_v<D> ||
                                     !is_floating_v<S>,
                                 double, float>;
  const S* src = static_cast<const S*>(s.ptr[1]) + off[1];
  D* dst = static_cast<D*>(s.ptr[0]) + off[0];
  if constexpr (std::is_same_v<D, bool>) *dst = load_as<double>(src) != 0.0;
  else if constexpr (!is_floating_v<D> && !is_floating_v<S>) *dst = D(*src);  // integer to integer
  else store_as(dst, load_as<Mid>(src));
}

// Expands a runtime op code into a template argument.
template <class Op, int N, class F>
void with_op(Op op, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    ((int(op) == I ? (f(std::integral_constant<Op, Op(I)>{}), 0) : 0), ...);
  }(std::make_integer_sequence<int, N>{});
}

}  // namespace

void unary(UnaryOp op, DType dtype, const Strided<2>& a, double p0, double p1) {
  if (a.numel == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (is_floating_v<T>)
      with_op<UnaryOp, kNumUnaryOps>(op, [&](auto code) {
        unary_kernel<decltype(code)::value, T><<<blocks_for(a.numel, kThreads), kThreads>>>(a, p0, p1);
      });
  });
}

void unary_grad(UnaryOp op, DType dtype, const Strided<4>& a, double p0, double p1) {
  if (a.numel == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (is_floating_v<T>)
      with_op<UnaryOp, kNumUnaryOps>(op, [&](auto code) {
        unary_grad_kernel<decltype(code)::value, T><<<blocks_for(a.numel, kThreads), kThreads>>>(a, p0, p1);
      });
  });
}

void binary(BinaryOp op, DType dtype, const Strided<3>& a) {
  if (a.numel == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    if constexpr (!std::is_same_v<T, bool> && !std::is_same_v<T, uint8_t>)
      with_op<BinaryOp, kNumBinaryOps>(op, [&](auto code) {
        binary_kernel<decltype(code)::value, T><<<blocks_for(a.numel, kThreads), kThreads>>>(a);
      });
  });
}

void compare(CompareOp op, DType dtype, const Strided<3>& a) {
  if (a.numel == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    with_op<CompareOp, kNumCompareOps>(op, [&](auto code) {
      compare_kernel<decltype(code)::value, T><<<blocks_for(a.numel, kThreads), kThreads>>>(a);
    });
  });
}

void where(DType dtype, const Strided<4>& a) {
  if (a.numel == 0) return;
  dispatch_device(dtype, [&](auto t) {
    using T = decltype(t);
    where_kernel<T><<<blocks_for(a.numel, kThreads), kThreads>>>(a);
  });
}

void convert(DType dst_dtype, DType src_dtype, const Strided<2>& a) {
  if (a.numel == 0) return;
  dispatch_device(dst_dtype, [&](auto d) {
    dispatch_device(src_dtype, [&](auto s) {
      convert_kernel<decltype(d), decltype(s)><<<blocks_for(a.numel, kThreads), kThreads>>>(a);
    });
  });
}

}  // namespace kiln::cuda
