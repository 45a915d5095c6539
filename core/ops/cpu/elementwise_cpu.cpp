// CPU kernels of the elementwise family: the op code picks a template instantiation of the
// scalar function once per call, and the strided loop runs it.
#include "core/ops/cpu/loop.h"
#include "core/ops/cpu/register.h"
#include "core/ops/elementwise_kernels.h"
#include "kernels/cpu/elementwise.h"

namespace kiln::ops::cpu {
namespace {

using kiln::cpu::binary_run;
using kiln::cpu::compare_run;
using kiln::cpu::unary_grad_run;
using kiln::cpu::unary_run;
using kiln::cpu::where_run;

// Expands a runtime op code into a call with the code as a template argument.
template <class Op, int N, class F>
void with_op(Op op, F&& f) {
  [&]<int... I>(std::integer_sequence<int, I...>) {
    bool hit = ((int(op) == I ? (f(std::integral_constant<Op, Op(I)>{}), true) : false) || ...);
    KILN_CHECK(hit, "internal: unknown op code ", int(op));
  }(std::make_integer_sequence<int, N>{});
}

template <class T>
void unary_cpu(UnaryOp op, const Tensor& out, const Tensor& x, double p0, double p1) {
  with_op<UnaryOp, kNumUnaryOps>(op, [&](auto code) {
    for_each_run<2>({&out, &x}, [&](char* const* p, int64_t n, const int64_t* s) {
      unary_run<decltype(code)::value, T>(p[0], p[1], n, s[0], s[1], p0, p1);
    });
  });
}

template <class T>
void unary_grad_cpu(UnaryOp op, const Tensor& dx, const Tensor& g, const Tensor& x, const Tensor& y, double p0,
                    double p1) {
  with_op<UnaryOp, kNumUnaryOps>(op, [&](auto code) {
    for_each_run<4>({&dx, &g, &x, &y}, [&](char* const* p, int64_t n, const int64_t* s) {
      unary_grad_run<decltype(code)::value, T>(p[0], p[1], p[2], p[3], n, s, p0, p1);
    });
  });
}

template <class T>
void binary_cpu(BinaryOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  with_op<BinaryOp, kNumBinaryOps>(op, [&](auto code) {
    for_each_run<3>({&out, &a, &b}, [&](char* const* p, int64_t n, const int64_t* s) {
      binary_run<decltype(code)::value, T>(p[0], p[1], p[2], n, s[0], s[1], s[2]);
    });
  });
}

template <class T>
void compare_cpu(CompareOp op, const Tensor& out, const Tensor& a, const Tensor& b) {
  with_op<CompareOp, kNumCompareOps>(op, [&](auto code) {
    for_each_run<3>({&out, &a, &b}, [&](char* const* p, int64_t n, const int64_t* s) {
      compare_run<decltype(code)::value, T>(p[0], p[1], p[2], n, s[0], s[1], s[2]);
    });
  });
}

template <class T>
void where_cpu(const Tensor& out, const Tensor& cond, const Tensor& a, const Tensor& b) {
  for_each_run<4>({&out, &cond, &a, &b},
                  [&](char* const* p, int64_t n, const int64_t* s) { where_run<T>(p[0], p[1], p[2], p[3], n, s); });
}

template <class T>
void register_floating() {
  constexpr DType t = dtype_v<T>;
  unary_kernels.set(Device::Type::cpu, t, &unary_cpu<T>);
  unary_grad_kernels.set(Device::Type::cpu, t, &unary_grad_cpu<T>);
}

template <class T>
void register_arithmetic() {
  binary_kernels.set(Device::Type::cpu, dtype_v<T>, &binary_cpu<T>);
}

template <class T>
void register_any() {
  compare_kernels.set(Device::Type::cpu, dtype_v<T>, &compare_cpu<T>);
  where_kernels.set(Device::Type::cpu, dtype_v<T>, &where_cpu<T>);
}

}  // namespace

void register_elementwise() {
  register_floating<double>();
  register_floating<float>();
  register_floating<bf16>();
  register_floating<f16>();
  register_arithmetic<double>();
  register_arithmetic<float>();
  register_arithmetic<bf16>();
  register_arithmetic<f16>();
  register_arithmetic<int32_t>();
  register_arithmetic<int64_t>();
  register_any<double>();
  register_any<float>();
  register_any<bf16>();
  register_any<f16>();
  register_any<int32_t>();
  register_any<int64_t>();
  register_any<uint8_t>();
  register_any<bool>();
}

}  // namespace kiln::ops::cpu
