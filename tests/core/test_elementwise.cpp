// Elementwise ops: gradient checks of every differentiable op (with broadcasting, scalar and
// 0-d operands), forward values against std:: in double, bf16/f16 against f32, integer
// arithmetic, comparisons, selection, in-place ops and error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <string>

#include "kernels/cpu/elementwise.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::rand64;
using testing::randn64;

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;
using Ref1 = std::function<double(double)>;
using Ref2 = std::function<double(double, double)>;

constexpr double kPi = 3.14159265358979323846;

// A uniform f64 leaf in [lo, hi) that requires grad.
Tensor leaf(const Shape& s, double lo, double hi, uint64_t seed) {
  return rand64(s, lo, hi, seed).requires_grad_();
}

// Uniform values in [lo, hi) with |x| >= gap: away from the kink at 0.
Tensor leaf_off_zero(const Shape& s, double lo, double hi, double gap, uint64_t seed) {
  std::vector<double> v = rand64(s, lo, hi, seed).to_vector<double>();
  for (double& x : v)
    if (std::fabs(x) < gap) x = x < 0 ? x - gap : x + gap;
  return from_vector(v, s).requires_grad_();
}

// ---- gradient checks: binary ----------------------------------------------------------------

TEST(Elementwise, GradcheckBinaryWithBroadcasting) {
  Tensor a = leaf({3, 1}, 0.5, 2.0, 1);  // positive: the base of pow, the divisor of div
  Tensor b = leaf({1, 4}, 0.5, 2.0, 2);
  Tensor s = rand64({}, 0.5, 2.0, 3).requires_grad_();  // 0-d
  Tensor v = leaf({4}, -1.5, 1.5, 4);
  std::vector<std::pair<const char*, Fn>> ops = {
      {"add", [](const std::vector<Tensor>& in) { return add(in[0], in[1]); }},
      {"sub", [](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }},
      {"mul", [](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }},
      {"div", [](const std::vector<Tensor>& in) { return div(in[0], in[1]); }},
      {"pow", [](const std::vector<Tensor>& in) { return pow(in[0], in[1]); }},
      {"maximum", [](const std::vector<Tensor>& in) { return maximum(in[0], in[1]); }},
      {"minimum", [](const std::vector<Tensor>& in) { return minimum(in[0], in[1]); }},
  };
  for (auto& [name, fn] : ops) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(fn, {a, b});  // [3,1] with [1,4]
    EXPECT_GRADCHECK(fn, {b, a});  // and the other way round
    EXPECT_GRADCHECK(fn, {a, s});  // with a 0-d tensor
    EXPECT_GRADCHECK(fn, {s, b});
    EXPECT_GRADCHECK(fn, {a.detach().requires_grad_(false), b});  // one side constant
  }
  // Signed operands where the op allows them (pow needs a positive base, div a nonzero divisor).
  for (auto& [name, fn] : ops) {
    if (std::string(name) == "pow" || std::string(name) == "div") continue;
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(fn, {v, a});
  }
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {v, a});
}

TEST(Elementwise, MaximumMinimumSplitTheGradientAtTies) {
  Tensor a = tensor({1, 2, 3, 5}, {}, DType::f64).requires_grad_();
  Tensor b = tensor({1, 0, 4, 5}, {}, DType::f64).requires_grad_();
  sum(maximum(a, b)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.5, 1, 0, 0.5}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0.5, 0, 1, 0.5}));
  a.set_grad(Tensor());
  b.set_grad(Tensor());
  sum(minimum(a, b)).backward();
  EXPECT_EQ(a.grad().to_vector<double>(), (std::vector<double>{0.5, 0, 1, 0.5}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0.5, 1, 0, 0.5}));
  // A broadcast scalar tied with two elements collects half of each.
  Tensor c = scalar(2.0, DType::f64).requires_grad_();
  Tensor d = tensor({2, 2, 3}, {}, DType::f64).requires_grad_();
  sum(maximum(c, d)).backward();
  EXPECT_EQ(c.grad().item(), 1.0);
  EXPECT_EQ(d.grad().to_vector<double>(), (std::vector<double>{0.5, 0.5, 1}));
}

TEST(Elementwise, GradcheckScalarOverloads) {
  Tensor x = leaf({2, 3}, 0.5, 2.0, 5);
  std::vector<std::pair<const char*, Fn>> ops = {
      {"add", [](const std::vector<Tensor>& in) { return add(in[0], 2.5); }},
      {"sub", [](const std::vector<Tensor>& in) { return sub(in[0], -1.5); }},
      {"mul", [](const std::vector<Tensor>& in) { return mul(in[0], -3.0); }},
      {"div", [](const std::vector<Tensor>& in) { return div(in[0], 4.0); }},
      {"pow 2.5", [](const std::vector<Tensor>& in) { return pow(in[0], 2.5); }},
      {"pow -1.5", [](const std::vector<Tensor>& in) { return pow(in[0], -1.5); }},
      {"pow 0", [](const std::vector<Tensor>& in) { return pow(in[0], 0.0); }},
      {"affine", [](const std::vector<Tensor>& in) { return affine(in[0], -2.0, 0.75); }},
      {"1 - x", [](const std::vector<Tensor>& in) { return 1.0 - in[0]; }},
      {"2 / x", [](const std::vector<Tensor>& in) { return 2.0 / in[0]; }},
      {"x * 3 + 1", [](const std::vector<Tensor>& in) { return in[0] * 3.0 + 1.0; }},
      {"-x", [](const std::vector<Tensor>& in) { return -in[0]; }},
  };
  for (auto& [name, fn] : ops) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(fn, {x});
  }
}

// ---- gradient checks: unary and activations -------------------------------------------------

TEST(Elementwise, GradcheckUnary) {
  Tensor any = leaf({3, 4}, -2.5, 2.5, 6);
  Tensor pos = leaf({3, 4}, 0.3, 3.0, 7);
  Tensor off0 = leaf_off_zero({3, 4}, -2.0, 2.0, 0.05, 8);
  struct Case {
    const char* name;
    Fn fn;
    Tensor x;
  };
  std::vector<Case> cases = {
      {"neg", [](const std::vector<Tensor>& in) { return neg(in[0]); }, any},
      {"exp", [](const std::vector<Tensor>& in) { return exp(in[0]); }, any},
      {"log", [](const std::vector<Tensor>& in) { return log(in[0]); }, pos},
      {"sqrt", [](const std::vector<Tensor>& in) { return sqrt(in[0]); }, pos},
      {"rsqrt", [](const std::vector<Tensor>& in) { return rsqrt(in[0]); }, pos},
      {"abs", [](const std::vector<Tensor>& in) { return abs(in[0]); }, off0},
      {"square", [](const std::vector<Tensor>& in) { return square(in[0]); }, any},
      {"sin", [](const std::vector<Tensor>& in) { return sin(in[0]); }, any},
      {"cos", [](const std::vector<Tensor>& in) { return cos(in[0]); }, any},
      {"reciprocal", [](const std::vector<Tensor>& in) { return reciprocal(in[0]); }, off0},
      {"sign", [](const std::vector<Tensor>& in) { return sign(in[0]); }, off0},
      {"relu", [](const std::vector<Tensor>& in) { return relu(in[0]); }, off0},
      {"gelu", [](const std::vector<Tensor>& in) { return gelu(in[0]); }, any},
      {"gelu_tanh", [](const std::vector<Tensor>& in) { return gelu(in[0], GeluApprox::tanh); },
       any},
      {"silu", [](const std::vector<Tensor>& in) { return silu(in[0]); }, any},
      {"sigmoid", [](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, any},
      {"tanh", [](const std::vector<Tensor>& in) { return tanh(in[0]); }, any},
      {"softplus", [](const std::vector<Tensor>& in) { return softplus(in[0]); }, any},
      {"softplus beta 2", [](const std::vector<Tensor>& in) { return softplus(in[0], 2.0); }, any},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.name);
    EXPECT_GRADCHECK(c.fn, {c.x});
  }
}

TEST(Elementwise, SignHasZeroGradient) {
  Tensor x = tensor({-2, 0.5, 3}, {}, DType::f64).requires_grad_();
  sum(sign(x)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

TEST(Elementwise, GradcheckClamp) {
  // Values on both sides of the bounds but at least 0.05 from them.
  Tensor x =
      tensor({-1.2, -0.7, -0.3, 0.1, 0.35, 0.6, 0.9, 1.4}, {2, 4}, DType::f64).requires_grad_();
  std::vector<std::pair<const char*, Fn>> ops = {
      {"lo", [](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, std::nullopt); }},
      {"hi", [](const std::vector<Tensor>& in) { return clamp(in[0], std::nullopt, 0.5); }},
      {"both", [](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 0.5); }},
  };
  for (auto& [name, fn] : ops) {
    SCOPED_TRACE(name);
    EXPECT_GRADCHECK(fn, {x});
  }
  x.set_grad(Tensor());
  sum(clamp(x, -0.5, 0.5)).backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 1, 0, 0, 0}));
}

TEST(Elementwise, SoftplusAboveThresholdIsIdentity) {
  // beta x > threshold reverts to x (gradient 1); check both regimes, away from the switch.
  Tensor x = tensor({-3, -0.5, 0.4, 1.2, 2.5, 4}, {}, DType::f64).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return softplus(in[0], 2.0, 2.0); }, {x});
  std::vector<double> y = softplus(x, 2.0, 2.0).to_vector<double>();
  std::vector<double> xs = x.to_vector<double>();
  for (size_t i = 0; i < xs.size(); ++i) {
    double expected = 2.0 * xs[i] > 2.0 ? xs[i] : std::log1p(std::exp(2.0 * xs[i])) / 2.0;
    EXPECT_NEAR(y[i], expected, 1e-15) << "x = " << xs[i];
  }
  // Far beyond the default threshold the result is x exactly, and there is no overflow.
  EXPECT_EQ(softplus(scalar(1000.0, DType::f64)).item(), 1000.0);
  EXPECT_NEAR(softplus(scalar(-1000.0, DType::f64)).item(), 0.0, 1e-300);
}

TEST(Elementwise, GradcheckWhereAndMaskedFill) {
  Tensor cond = from_vector<bool>({true, false, true}, {3, 1});
  Tensor a = leaf({1, 4}, -1.0, 1.0, 9);
  Tensor b = rand64({}, -1.0, 1.0, 10).requires_grad_();  // 0-d
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return where(cond, in[0], in[1]); },
                   {a, b});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return where(cond, in[1], in[0]); },
                   {a, b});
  Tensor x = leaf({3, 4}, -1.0, 1.0, 11);
  Tensor mask = from_vector<bool>({false, true, true, false}, {4});
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& in) { return masked_fill(in[0], mask, -7.0); },
                   {x});
  std::vector<double> y = masked_fill(x, mask, -7.0).to_vector<double>(),
                      xv = x.to_vector<double>();
  for (size_t i = 0; i < y.size(); ++i) EXPECT_EQ(y[i], (i % 4 == 1 || i % 4 == 2) ? -7.0 : xv[i]);
}

// ---- forward values -------------------------------------------------------------------------

::testing::AssertionResult matches_unary(const Tensor& y, const Tensor& x, const Ref1& ref,
                                         double tol) {
  std::vector<double> xv = x.to_vector<double>(), expected;
  for (double v : xv) expected.push_back(ref(v));
  return testing::all_close(y, from_vector(expected, x.shape()), tol, tol);
}

double sigmoid_ref(double x) {
  return 1 / (1 + std::exp(-x));
}
double gelu_tanh_ref(double x) {
  return 0.5 * x * (1 + std::tanh(std::sqrt(2 / kPi) * (x + 0.044715 * x * x * x)));
}

struct UnaryCase {
  const char* name;
  std::function<Tensor(const Tensor&)> op;
  Ref1 ref;
  bool positive;  // needs x > 0
};

std::vector<UnaryCase> unary_cases() {
  return {
      {"neg", [](const Tensor& x) { return neg(x); }, [](double x) { return -x; }, false},
      {"exp", [](const Tensor& x) { return exp(x); }, [](double x) { return std::exp(x); }, false},
      {"log", [](const Tensor& x) { return log(x); }, [](double x) { return std::log(x); }, true},
      {"sqrt", [](const Tensor& x) { return sqrt(x); }, [](double x) { return std::sqrt(x); },
       true},
      {"rsqrt", [](const Tensor& x) { return rsqrt(x); }, [](double x) { return 1 / std::sqrt(x); },
       true},
      {"abs", [](const Tensor& x) { return abs(x); }, [](double x) { return std::fabs(x); }, false},
      {"square", [](const Tensor& x) { return square(x); }, [](double x) { return x * x; }, false},
      {"sin", [](const Tensor& x) { return sin(x); }, [](double x) { return std::sin(x); }, false},
      {"cos", [](const Tensor& x) { return cos(x); }, [](double x) { return std::cos(x); }, false},
      {"reciprocal", [](const Tensor& x) { return reciprocal(x); }, [](double x) { return 1 / x; },
       true},
      {"sign", [](const Tensor& x) { return sign(x); },
       [](double x) { return double((x > 0) - (x < 0)); }, false},
      {"relu", [](const Tensor& x) { return relu(x); }, [](double x) { return std::max(x, 0.0); },
       false},
      {"gelu", [](const Tensor& x) { return gelu(x); },
       [](double x) { return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0))); }, false},
      {"gelu_tanh", [](const Tensor& x) { return gelu(x, GeluApprox::tanh); }, gelu_tanh_ref,
       false},
      {"silu", [](const Tensor& x) { return silu(x); }, [](double x) { return x * sigmoid_ref(x); },
       false},
      {"sigmoid", [](const Tensor& x) { return sigmoid(x); }, sigmoid_ref, false},
      {"tanh", [](const Tensor& x) { return tanh(x); }, [](double x) { return std::tanh(x); },
       false},
      {"softplus", [](const Tensor& x) { return softplus(x); },
       [](double x) { return x > 20 ? x : std::log1p(std::exp(x)); }, false},
      {"clamp", [](const Tensor& x) { return clamp(x, -0.5, 1.0); },
       [](double x) { return std::min(std::max(x, -0.5), 1.0); }, false},
      {"pow 3", [](const Tensor& x) { return pow(x, 3.0); }, [](double x) { return x * x * x; },
       false},
      {"pow 0.5", [](const Tensor& x) { return pow(x, 0.5); },
       [](double x) { return std::sqrt(x); }, true},
      {"affine", [](const Tensor& x) { return affine(x, 3.0, -2.0); },
       [](double x) { return 3 * x - 2; }, false},
  };
}

TEST(Elementwise, UnaryValuesMatchStdInDouble) {
  Tensor any = mul(randn64({200}, 12), 3.0);
  Tensor pos = rand64({200}, 0.01, 10.0, 13);
  for (const auto& c : unary_cases()) {
    SCOPED_TRACE(c.name);
    const Tensor& x = c.positive ? pos : any;
    EXPECT_TRUE(matches_unary(c.op(x), x, c.ref, 1e-14));
  }
  Tensor zero = zeros({1}, DType::f64);
  EXPECT_EQ(sign(zero).item(), 0.0);
  EXPECT_EQ(relu(zero).item(), 0.0);
  EXPECT_TRUE(std::isnan(relu(scalar(NAN, DType::f64)).item()));  // NaN is not hidden
}

TEST(Elementwise, GeluTanhF32GradientFromItsOutputMatchesTheFormula) {
  // The f32 kernel reads (1 + tanh u)/2 off the output (y / x) rather than evaluating tanh
  // again. Against the derivative in f64: within 2e-6 where f32 resolves tanh (|x| <= 4), within
  // 1e-7 at |x| >= 6 (the asymptote), and in between no further from it than the plain kernel
  // that recomputes tanh in f32 (both inherit f32's saturated tanh there: 1 - t^2 is a few ulps
  // of 1 times a factor ~x^3).
  std::vector<double> xs;
  for (double v = -12; v <= 12; v += 0.01) xs.push_back(v);
  for (double v :
       {0.0, 1e-7, -1e-7, 1e-4, -1e-4, 9.99e-4, -9.99e-4, 1.001e-3, -1.001e-3, 30.0, -30.0})
    xs.push_back(v);
  Tensor x = from_vector(xs, {int64_t(xs.size())}).to(DType::f32).requires_grad_();
  Tensor y = gelu(x, GeluApprox::tanh);
  y.backward(ones_like(x));
  std::vector<double> got = x.grad().to_vector<double>(), xv = x.to_vector<double>(),
                      yv = y.to_vector<double>();
  const double s = std::sqrt(2 / kPi), c = 0.044715;
  for (size_t i = 0; i < xv.size(); ++i) {
    const double v = xv[i], t = std::tanh(s * (v + c * v * v * v));
    const double want = 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * s * (1 + 3 * c * v * v);
    const double plain =
        cpu::unary_grad_fn<UnaryOp::gelu_tanh, float>(float(v), float(yv[i]), 0.0f, 0.0f);
    const double tol = std::fabs(v) <= 4   ? 2e-6 * (1 + std::fabs(want))
                       : std::fabs(v) >= 6 ? 1e-7
                                           : std::fabs(plain - want) + 2e-6 * (1 + std::fabs(want));
    EXPECT_NEAR(got[i], want, tol) << "x = " << v << ", recomputing tanh gives " << plain;
  }
}

TEST(Elementwise, HalfPrecisionMatchesF32WithinRounding) {
  Tensor any = mul(randn64({500}, 14), 2.0);
  Tensor pos = rand64({500}, 0.05, 8.0, 15);
  for (DType dt : {DType::bf16, DType::f16}) {
    // One rounding of the result: half an ulp, 2^-8 (bf16) or 2^-11 (f16) relative.
    const double rtol = dt == DType::bf16 ? 1.0 / 256 : 1.0 / 2048;
    for (const auto& c : unary_cases()) {
      SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " " << c.name);
      Tensor x = (c.positive ? pos : any).to(dt);  // the same rounded inputs for both
      Tensor y = c.op(x);
      EXPECT_EQ(y.dtype(), dt);
      EXPECT_ALL_CLOSE(y.to(DType::f32), c.op(x.to(DType::f32)), 1e-7, rtol * 1.0001);
    }
    Tensor a = any.to(dt), b = pos.to(dt);
    using BinFn = Tensor (*)(const Tensor&, const Tensor&);
    for (BinFn op : std::vector<BinFn>{add, sub, mul, div, maximum, minimum}) {
      EXPECT_ALL_CLOSE(op(a, b).to(DType::f32), op(a.to(DType::f32), b.to(DType::f32)), 1e-7,
                       rtol * 1.0001);
    }
  }
}

TEST(Elementwise, BinaryValuesWithBroadcasting) {
  Tensor a = randn64({3, 1}, 16), b = rand64({1, 4}, 0.5, 2.0, 17);
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<std::pair<std::function<Tensor(const Tensor&, const Tensor&)>, Ref2>> ops = {
      {[](const Tensor& x, const Tensor& y) { return add(x, y); },
       [](double x, double y) { return x + y; }},
      {[](const Tensor& x, const Tensor& y) { return sub(x, y); },
       [](double x, double y) { return x - y; }},
      {[](const Tensor& x, const Tensor& y) { return mul(x, y); },
       [](double x, double y) { return x * y; }},
      {[](const Tensor& x, const Tensor& y) { return div(x, y); },
       [](double x, double y) { return x / y; }},
      {[](const Tensor& x, const Tensor& y) { return pow(y, x); },
       [](double x, double y) { return std::pow(y, x); }},
      {[](const Tensor& x, const Tensor& y) { return maximum(x, y); },
       [](double x, double y) { return std::max(x, y); }},
      {[](const Tensor& x, const Tensor& y) { return minimum(x, y); },
       [](double x, double y) { return std::min(x, y); }},
  };
  for (size_t k = 0; k < ops.size(); ++k) {
    SCOPED_TRACE(::testing::Message() << "op " << k);
    Tensor y = ops[k].first(a, b);
    ASSERT_EQ(y.shape(), Shape({3, 4}));
    std::vector<double> expected;
    for (double x : av)
      for (double z : bv) expected.push_back(ops[k].second(x, z));
    EXPECT_ALL_CLOSE(y, from_vector(expected, {3, 4}), 1e-15, 1e-14);
  }
  // With a 0-d operand, and a non-contiguous one.
  Tensor s = scalar(2.0, DType::f64);
  EXPECT_ALL_CLOSE(mul(a, s), mul(a, 2.0), 0, 0);
  Tensor m = randn64({4, 3}, 18);
  EXPECT_ALL_CLOSE(add(m.transpose(0, 1), b.reshape({4})),
                   add(m.transpose(0, 1).contiguous(), b.reshape({4})), 0, 0);
  // NaN propagates through maximum and minimum from either side.
  Tensor n = tensor({NAN, 1}, {}, DType::f32), o = tensor({0, NAN}, {}, DType::f32);
  for (double v : maximum(n, o).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
  for (double v : minimum(n, o).to_vector<double>()) EXPECT_TRUE(std::isnan(v));
}

TEST(Elementwise, IntegerArithmetic) {
  for (DType dt : {DType::i32, DType::i64}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor a = tensor({1, -2, 30}, {3, 1}, dt);
    Tensor b = tensor({4, -5}, {1, 2}, dt);
    EXPECT_EQ(add(a, b).dtype(), dt);
    EXPECT_EQ(add(a, b).to_vector<int64_t>(), (std::vector<int64_t>{5, -4, 2, -7, 34, 25}));
    EXPECT_EQ(mul(a, b).to_vector<int64_t>(), (std::vector<int64_t>{4, -5, -8, 10, 120, -150}));
    EXPECT_EQ(maximum(a, b).to_vector<int64_t>(), (std::vector<int64_t>{4, 1, 4, -2, 30, 30}));
    EXPECT_EQ(minimum(a, b).to_vector<int64_t>(), (std::vector<int64_t>{1, -5, -2, -5, 4, -5}));
    EXPECT_EQ(sub(a, 1.0).to_vector<int64_t>(), (std::vector<int64_t>{0, -3, 29}));
    EXPECT_EQ(mul(a, 3.0).to_vector<int64_t>(), (std::vector<int64_t>{3, -6, 90}));
    EXPECT_EQ(neg(a).to_vector<int64_t>(), (std::vector<int64_t>{-1, 2, -30}));
    EXPECT_EQ(div(a, b).to_vector<int64_t>(),
              (std::vector<int64_t>{0, 0, 0, 0, 7, -6}));  // truncates
  }
  // Large i64 values stay exact (no detour through double).
  Tensor big = from_vector<int64_t>({(int64_t(1) << 61) + 1}, {1});
  EXPECT_EQ(add(big, big).to_vector<int64_t>()[0], (int64_t(1) << 62) + 2);
}

TEST(Elementwise, IntegerDivisionByZeroThrowsAndMinByMinusOneWraps) {
  Tensor a = from_vector<int32_t>({7, 8}, {2});
  try {
    div(a, from_vector<int32_t>({1, 0}, {2}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("division by zero"), std::string::npos) << e.what();
  }
  int64_t lo = std::numeric_limits<int64_t>::min();
  EXPECT_EQ(div(from_vector<int64_t>({lo, 6}, {2}), from_vector<int64_t>({-1, -1}, {2}))
                .to_vector<int64_t>(),
            (std::vector<int64_t>{lo, -6}));
}

TEST(Elementwise, ComparisonsAndLogicalOps) {
  Tensor a = tensor({1, 2, 3}, {3, 1}, DType::f32);
  Tensor b = tensor({2, 3}, {1, 2}, DType::f32);
  auto bools = [](const Tensor& t) {
    EXPECT_EQ(t.dtype(), DType::boolean);
    return t.to_vector<bool>();
  };
  // a: rows 1, 2, 3; b: cols 2, 3.
  EXPECT_EQ(bools(eq(a, b)), (std::vector<bool>{0, 0, 1, 0, 0, 1}));
  EXPECT_EQ(bools(ne(a, b)), (std::vector<bool>{1, 1, 0, 1, 1, 0}));
  EXPECT_EQ(bools(lt(a, b)), (std::vector<bool>{1, 1, 0, 1, 0, 0}));
  EXPECT_EQ(bools(le(a, b)), (std::vector<bool>{1, 1, 1, 1, 0, 1}));
  EXPECT_EQ(bools(gt(a, b)), (std::vector<bool>{0, 0, 0, 0, 1, 0}));
  EXPECT_EQ(bools(ge(a, b)), (std::vector<bool>{0, 0, 1, 0, 1, 1}));
  Tensor v = tensor({1, 2, 3}, {}, DType::f32);
  EXPECT_EQ(bools(eq(v, 2.0)), (std::vector<bool>{0, 1, 0}));
  EXPECT_EQ(bools(gt(v, 1.5)), (std::vector<bool>{0, 1, 1}));
  EXPECT_EQ(bools(lt(v, 1.5)), (std::vector<bool>{1, 0, 0}));
  Tensor i = from_vector<int64_t>({0, 5, -1}, {3});
  EXPECT_EQ(bools(gt(i, 0.0)), (std::vector<bool>{0, 1, 0}));
  EXPECT_EQ(bools(eq(tensor({NAN}, {}, DType::f32), tensor({NAN}, {}, DType::f32))),
            (std::vector<bool>{0}));
  Tensor p = from_vector<bool>({true, true, false, false}, {4});
  Tensor q = from_vector<bool>({true, false, true, false}, {4});
  EXPECT_EQ(bools(logical_and(p, q)), (std::vector<bool>{1, 0, 0, 0}));
  EXPECT_EQ(bools(logical_or(p, q)), (std::vector<bool>{1, 1, 1, 0}));
  EXPECT_EQ(bools(logical_not(p)), (std::vector<bool>{0, 0, 1, 1}));
  EXPECT_EQ(bools(logical_not(i)), (std::vector<bool>{1, 0, 0}));
  EXPECT_EQ(bools(logical_and(i, from_vector<int64_t>({3, 3, 0}, {3}))),
            (std::vector<bool>{0, 1, 0}));
  // where on integers and bools, broadcasting the condition.
  Tensor w = where(from_vector<bool>({true, false}, {2, 1}), from_vector<int64_t>({1, 2, 3}, {3}),
                   from_vector<int64_t>({-1}, {1}));
  EXPECT_EQ(w.to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 3, -1, -1, -1}));
}

TEST(Elementwise, InPlaceAddAndMul) {
  Tensor a = tensor({1, 2, 3, 4, 5, 6}, {2, 3}, DType::f32);
  add_(a, tensor({10, 20, 30}, {}, DType::f32));  // broadcast over rows
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{11, 22, 33, 14, 25, 36}));
  add_(a, ones({2, 3}), -2.0);
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{9, 20, 31, 12, 23, 34}));
  mul_(a, 0.5);
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{4.5, 10, 15.5, 6, 11.5, 17}));
  // Into a strided view: only the viewed elements change.
  Tensor col = a.select(1, 1);
  add_(col, scalar(1.0));
  mul_(col, 2.0);
  EXPECT_EQ(a.to_vector<double>(), (std::vector<double>{4.5, 22, 15.5, 6, 25, 17}));
  Tensor i = from_vector<int32_t>({1, 2}, {2});
  add_(i, from_vector<int32_t>({5, 5}, {2}));
  mul_(i, 3.0);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{18, 21}));
  // The in-place target does not broadcast, and a leaf that requires grad is protected.
  EXPECT_THROW(add_(col, ones({2, 3})), Error);
  Tensor w = ones({2}).requires_grad_();
  EXPECT_THROW(add_(w, ones({2})), Error);
  EXPECT_THROW(mul_(w, 2.0), Error);
}

// ---- errors -----------------------------------------------------------------------------------

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_MENTIONS(msg, text) EXPECT_NE((msg).find(text), std::string::npos) << (msg)

TEST(Elementwise, ErrorsNameOpAndBothShapes) {
  std::string m = error_of([] { sub(zeros({2, 3}), zeros({3, 2})); });
  EXPECT_MENTIONS(m, "sub");
  EXPECT_MENTIONS(m, "[2, 3]");
  EXPECT_MENTIONS(m, "[3, 2]");
  m = error_of([] { maximum(zeros({4}), zeros({2, 3}, DType::bf16)); });
  EXPECT_MENTIONS(m, "maximum");
  EXPECT_MENTIONS(m, "f32");
  EXPECT_MENTIONS(m, "bf16");
  EXPECT_MENTIONS(m, "[4]");
  EXPECT_MENTIONS(m, "[2, 3]");
  m = error_of([] { where(zeros({2}), zeros({2}), zeros({2})); });
  EXPECT_MENTIONS(m, "where");
  EXPECT_MENTIONS(m, "bool");
  m = error_of([] { masked_fill(zeros({2}), from_vector<bool>({true, false, true}, {3}), 0.0); });
  EXPECT_MENTIONS(m, "masked_fill");
  EXPECT_MENTIONS(m, "[3]");
  EXPECT_MENTIONS(m, "[2]");
  m = error_of([] { clamp(zeros({2}), 1.0, -1.0); });
  EXPECT_MENTIONS(m, "clamp");
  m = error_of([] { softplus(zeros({2}), 0.0); });
  EXPECT_MENTIONS(m, "softplus");
}

TEST(Elementwise, DeviceMismatchNamesOpDevicesAndShapes) {
  // A tensor that claims to live on cuda:0 (host memory; never read): the check runs first.
  static float buf[6];
  Tensor fake = make_view(std::make_shared<Storage>(buf, sizeof buf, Device::cuda(0), nullptr),
                          {2, 3}, {3, 1}, 0, DType::f32);
  std::string m = error_of([&] { mul(zeros({2, 3}), fake); });
  EXPECT_MENTIONS(m, "mul");
  EXPECT_MENTIONS(m, "cpu");
  EXPECT_MENTIONS(m, "cuda:0");
  EXPECT_MENTIONS(m, "[2, 3]");
  m = error_of([&] { lt(fake, zeros({3})); });
  EXPECT_MENTIONS(m, "lt");
  EXPECT_MENTIONS(m, "[3]");
}

}  // namespace
}  // namespace kiln
