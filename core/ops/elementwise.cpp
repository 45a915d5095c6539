#include "core/ops/elementwise.h"

#include <cmath>
#include <limits>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise_kernels.h"
#include "core/ops/reduce.h"
#include "core/ops/view.h"
#include "core/tensor/factory.h"

namespace kiln {

const char* op_name(UnaryOp op) {
  static const char* names[] = {"neg",  "exp",  "log",       "sqrt", "rsqrt",   "abs",     "sign",
                                "square", "sin", "cos",     "reciprocal", "relu", "gelu", "gelu_tanh",
                                "silu", "sigmoid", "tanh", "softplus", "clamp", "pow", "affine"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumUnaryOps);
  return names[int(op)];
}
const char* op_name(BinaryOp op) {
  static const char* names[] = {"add", "sub", "mul", "div", "pow", "maximum", "minimum"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumBinaryOps);
  return names[int(op)];
}
const char* op_name(CompareOp op) {
  static const char* names[] = {"eq", "ne", "lt", "le", "gt", "ge", "logical_and", "logical_or"};
  static_assert(sizeof(names) / sizeof(names[0]) == kNumCompareOps);
  return names[int(op)];
}

namespace ops {

using autograd::NeedsGrad;

namespace {

void check_compatible(const char* op, const Tensor& a, const Tensor& b) {
  KILN_CHECK(a.device() == b.device(), op, ": operands are on different devices (", a.device().str(), " with shape ",
             a.shape(), ", ", b.device().str(), " with shape ", b.shape(), ")");
  KILN_CHECK(a.dtype() == b.dtype(), op, ": operands have different dtypes (", dtype_name(a.dtype()),
             " with shape ", a.shape(), ", ", dtype_name(b.dtype()), " with shape ", b.shape(),
             "); convert one with .to(dtype)");
}

Tensor scalar_like(double v, const Tensor& t) { return scalar(v, t.dtype(), t.device()); }

// Which of x and y = f(x) the derivative of f reads, so backward saves only those.
bool grad_reads_x(UnaryOp op) {
  switch (op) {
    case UnaryOp::neg: case UnaryOp::affine: case UnaryOp::sign:
    case UnaryOp::exp: case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::reciprocal:
    case UnaryOp::sigmoid: case UnaryOp::tanh:
      return false;
    default:
      return true;
  }
}
bool grad_reads_y(UnaryOp op) {
  switch (op) {
    case UnaryOp::exp: case UnaryOp::sqrt: case UnaryOp::rsqrt: case UnaryOp::reciprocal:
    case UnaryOp::sigmoid: case UnaryOp::tanh:
    case UnaryOp::gelu_tanh:  // the f32 CPU kernel reads (1 + tanh)/2 off y = x (1 + tanh)/2
      return true;
    default:
      return false;
  }
}

}  // namespace

Tensor sum_to(const Tensor& g, const Shape& shape) {
  if (g.shape() == shape) return g;
  const int64_t lead = g.dim() - int64_t(shape.size());
  KILN_CHECK(lead >= 0, "sum_to: cannot reduce shape ", g.shape(), " to ", shape);
  std::vector<int64_t> dims;
  for (int64_t i = 0; i < g.dim(); ++i) {
    if (i < lead) dims.push_back(i);
    else if (shape[size_t(i - lead)] == 1 && g.size(i) != 1) dims.push_back(i);
  }
  Tensor s = dims.empty() ? g : sum(g, dims, /*keepdim=*/true);
  return s.reshape(shape);
}

// ---- unary ----------------------------------------------------------------------------------

Tensor unary(UnaryOp op, const Tensor& x, double p0, double p1) {
  const char* name = op_name(op);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  unary_kernels.get(x.device(), x.dtype(), name)(op, out, x, p0, p1);
  if (autograd::needs_grad(x)) {
    Tensor xs = grad_reads_x(op) ? x.detach() : Tensor();
    Tensor ys = grad_reads_y(op) ? out.detach() : Tensor();
    autograd::record(name, {x}, out, [op, name, xs, ys, p0, p1](const Tensor& g, const NeedsGrad&) {
      Tensor dx = empty(g.shape(), g.dtype(), g.device());
      const Tensor& xa = xs.defined() ? xs : g;  // unused operand: any tensor of the right shape
      const Tensor& ya = ys.defined() ? ys : g;
      unary_grad_kernels.get(g.device(), g.dtype(), name)(op, dx, g, xa, ya, p0, p1);
      return std::vector<Tensor>{dx};
    });
  }
  return out;
}

Tensor neg(const Tensor& x) { return is_floating(x.dtype()) ? unary(UnaryOp::neg, x) : mul(x, -1.0); }
Tensor exp(const Tensor& x) { return unary(UnaryOp::exp, x); }
Tensor log(const Tensor& x) { return unary(UnaryOp::log, x); }
Tensor sqrt(const Tensor& x) { return unary(UnaryOp::sqrt, x); }
Tensor rsqrt(const Tensor& x) { return unary(UnaryOp::rsqrt, x); }
Tensor abs(const Tensor& x) { return unary(UnaryOp::abs, x); }
Tensor square(const Tensor& x) { return unary(UnaryOp::square, x); }
Tensor sin(const Tensor& x) { return unary(UnaryOp::sin, x); }
Tensor cos(const Tensor& x) { return unary(UnaryOp::cos, x); }
Tensor reciprocal(const Tensor& x) { return unary(UnaryOp::reciprocal, x); }
Tensor sign(const Tensor& x) { return unary(UnaryOp::sign, x); }
Tensor relu(const Tensor& x) { return unary(UnaryOp::relu, x); }
Tensor gelu(const Tensor& x, GeluApprox approx) {
  return unary(approx == GeluApprox::tanh ? UnaryOp::gelu_tanh : UnaryOp::gelu, x);
}
Tensor silu(const Tensor& x) { return unary(UnaryOp::silu, x); }
Tensor sigmoid(const Tensor& x) { return unary(UnaryOp::sigmoid, x); }
Tensor tanh(const Tensor& x) { return unary(UnaryOp::tanh, x); }
Tensor softplus(const Tensor& x, double beta, double threshold) {
  KILN_CHECK(beta > 0, "softplus: beta must be > 0, got ", beta);
  return unary(UnaryOp::softplus, x, beta, threshold);
}
Tensor clamp(const Tensor& x, std::optional<double> lo, std::optional<double> hi) {
  constexpr double inf = std::numeric_limits<double>::infinity();
  double l = lo.value_or(-inf), h = hi.value_or(inf);
  KILN_CHECK(l <= h, "clamp: lower bound ", l, " is above upper bound ", h);
  return unary(UnaryOp::clamp, x, l, h);
}
Tensor pow(const Tensor& x, double p) { return unary(UnaryOp::pow_scalar, x, p); }
Tensor affine(const Tensor& x, double scale, double shift) { return unary(UnaryOp::affine, x, scale, shift); }

// ---- binary ---------------------------------------------------------------------------------

Tensor binary(BinaryOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_compatible(name, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  if (op == BinaryOp::div && !is_floating(a.dtype())) {
    autograd::NoGrad no_grad;
    KILN_CHECK(sum(eq(b, scalar_like(0.0, b))).item() == 0, "div: integer division by zero (divisor of shape ",
               b.shape(), " and dtype ", dtype_name(b.dtype()), " holds a 0)");
  }
  Tensor out = empty(shape, a.dtype(), a.device());
  binary_kernels.get(a.device(), a.dtype(), name)(op, out, broadcast_view(a, shape, name),
                                                  broadcast_view(b, shape, name));
  if (!autograd::needs_grad(a, b)) return out;

  Shape as = a.shape(), bs = b.shape();
  Tensor ad = a.detach(), bd = b.detach();
  autograd::BackwardFn back;
  switch (op) {
    case BinaryOp::add:
      back = [as, bs](const Tensor& g, const NeedsGrad& n) {
        return std::vector<Tensor>{n[0] ? sum_to(g, as) : Tensor(), n[1] ? sum_to(g, bs) : Tensor()};
      };
      break;
    case BinaryOp::sub:
      back = [as, bs](const Tensor& g, const NeedsGrad& n) {
        return std::vector<Tensor>{n[0] ? sum_to(g, as) : Tensor(), n[1] ? sum_to(neg(g), bs) : Tensor()};
      };
      break;
    case BinaryOp::mul:
      back = [ad, bd](const Tensor& g, const NeedsGrad& n) {
        return std::vector<Tensor>{n[0] ? sum_to(mul(g, bd), ad.shape()) : Tensor(),
                                   n[1] ? sum_to(mul(g, ad), bd.shape()) : Tensor()};
      };
      break;
    case BinaryOp::div: {
      Tensor y = out.detach();
      back = [ad, bd, y](const Tensor& g, const NeedsGrad& n) {
        Tensor gb = n[1] ? sum_to(neg(div(mul(g, y), bd)), bd.shape()) : Tensor();
        return std::vector<Tensor>{n[0] ? sum_to(div(g, bd), ad.shape()) : Tensor(), gb};
      };
      break;
    }
    case BinaryOp::pow: {
      Tensor y = out.detach();
      back = [ad, bd, y](const Tensor& g, const NeedsGrad& n) {
        // d(a^b)/da = b a^(b-1);  d(a^b)/db = a^b log a
        Tensor ga = n[0] ? sum_to(mul(g, mul(bd, binary(BinaryOp::pow, ad, sub(bd, 1.0)))), ad.shape()) : Tensor();
        Tensor gb = n[1] ? sum_to(mul(g, mul(y, log(ad))), bd.shape()) : Tensor();
        return std::vector<Tensor>{ga, gb};
      };
      break;
    }
    case BinaryOp::maximum:
    case BinaryOp::minimum: {
      const bool is_max = op == BinaryOp::maximum;
      back = [ad, bd, is_max](const Tensor& g, const NeedsGrad& n) {
        // Weight of a: 1 where a wins, 1/2 at ties, 0 where b wins.
        Tensor wins = (is_max ? gt(ad, bd) : lt(ad, bd)).to(g.dtype());
        Tensor ties = eq(ad, bd).to(g.dtype());
        Tensor wa = add(wins, mul(ties, 0.5));
        Tensor ga = n[0] ? sum_to(mul(g, wa), ad.shape()) : Tensor();
        Tensor gb = n[1] ? sum_to(mul(g, affine(wa, -1.0, 1.0)), bd.shape()) : Tensor();
        return std::vector<Tensor>{ga, gb};
      };
      break;
    }
  }
  autograd::record(name, {a, b}, out, std::move(back));
  return out;
}

Tensor add(const Tensor& a, const Tensor& b) { return binary(BinaryOp::add, a, b); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary(BinaryOp::sub, a, b); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary(BinaryOp::mul, a, b); }
Tensor div(const Tensor& a, const Tensor& b) { return binary(BinaryOp::div, a, b); }
Tensor pow(const Tensor& a, const Tensor& b) { return binary(BinaryOp::pow, a, b); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::maximum, a, b); }
Tensor minimum(const Tensor& a, const Tensor& b) { return binary(BinaryOp::minimum, a, b); }

// Scalars: floating tensors use the affine kernel, which keeps the scalar in the compute
// precision (f32 for bf16) rather than rounding it to the tensor's dtype first.
Tensor add(const Tensor& a, double b) {
  return is_floating(a.dtype()) ? affine(a, 1.0, b) : add(a, scalar_like(b, a));
}
Tensor sub(const Tensor& a, double b) { return add(a, -b); }
Tensor mul(const Tensor& a, double b) {
  return is_floating(a.dtype()) ? affine(a, b, 0.0) : mul(a, scalar_like(b, a));
}
Tensor div(const Tensor& a, double b) { return div(a, scalar_like(b, a)); }

// ---- comparisons and selection --------------------------------------------------------------

Tensor compare(CompareOp op, const Tensor& a, const Tensor& b) {
  const char* name = op_name(op);
  check_compatible(name, a, b);
  Shape shape = broadcast_shapes(a.shape(), b.shape(), name);
  Tensor out = empty(shape, DType::boolean, a.device());
  compare_kernels.get(a.device(), a.dtype(), name)(op, out, broadcast_view(a, shape, name),
                                                   broadcast_view(b, shape, name));
  return out;
}

Tensor eq(const Tensor& a, const Tensor& b) { return compare(CompareOp::eq, a, b); }
Tensor ne(const Tensor& a, const Tensor& b) { return compare(CompareOp::ne, a, b); }
Tensor lt(const Tensor& a, const Tensor& b) { return compare(CompareOp::lt, a, b); }
Tensor le(const Tensor& a, const Tensor& b) { return compare(CompareOp::le, a, b); }
Tensor gt(const Tensor& a, const Tensor& b) { return compare(CompareOp::gt, a, b); }
Tensor ge(const Tensor& a, const Tensor& b) { return compare(CompareOp::ge, a, b); }
Tensor eq(const Tensor& a, double b) { return eq(a, scalar_like(b, a)); }
Tensor gt(const Tensor& a, double b) { return gt(a, scalar_like(b, a)); }
Tensor lt(const Tensor& a, double b) { return lt(a, scalar_like(b, a)); }
Tensor logical_and(const Tensor& a, const Tensor& b) { return compare(CompareOp::logical_and, a, b); }
Tensor logical_or(const Tensor& a, const Tensor& b) { return compare(CompareOp::logical_or, a, b); }
Tensor logical_not(const Tensor& a) { return eq(a, scalar_like(0.0, a)); }

Tensor where(const Tensor& cond, const Tensor& a, const Tensor& b) {
  KILN_CHECK(cond.dtype() == DType::boolean, "where: condition must be bool, got ", dtype_name(cond.dtype()),
             " with shape ", cond.shape());
  check_compatible("where", a, b);
  KILN_CHECK(cond.device() == a.device(), "where: condition is on ", cond.device().str(), ", operands on ",
             a.device().str());
  Shape shape = broadcast_shapes(broadcast_shapes(cond.shape(), a.shape(), "where"), b.shape(), "where");
  Tensor out = empty(shape, a.dtype(), a.device());
  where_kernels.get(a.device(), a.dtype(), "where")(out, broadcast_view(cond, shape, "where"),
                                                     broadcast_view(a, shape, "where"), broadcast_view(b, shape, "where"));
  if (autograd::needs_grad(a, b)) {
    Tensor c = cond.detach();
    Shape as = a.shape(), bs = b.shape();
    autograd::record("where", {a, b}, out, [c, as, bs](const Tensor& g, const NeedsGrad& n) {
      Tensor zero = scalar(0.0, g.dtype(), g.device());
      return std::vector<Tensor>{n[0] ? sum_to(where(c, g, zero), as) : Tensor(),
                                 n[1] ? sum_to(where(c, zero, g), bs) : Tensor()};
    });
  }
  return out;
}

Tensor masked_fill(const Tensor& x, const Tensor& mask, double value) {
  // Checked before where() so that the message names this op, and a mask that would enlarge
  // the result is refused without computing it.
  const bool fits = mask.dim() <= x.dim() && broadcast_shapes(mask.shape(), x.shape(), "masked_fill") == x.shape();
  KILN_CHECK(fits, "masked_fill: mask of shape ", mask.shape(), " does not broadcast to the input's shape ",
             x.shape());
  return where(mask, scalar_like(value, x), x);
}

// ---- in place -------------------------------------------------------------------------------

Tensor& add_(Tensor& a, const Tensor& b, double alpha) {
  autograd::check_inplace(a, "add_");
  check_compatible("add_", a, b);
  Tensor bb = alpha == 1.0 ? b : mul(b.detach(), alpha);
  Tensor bv = broadcast_view(bb, a.shape(), "add_");
  binary_kernels.get(a.device(), a.dtype(), "add_")(BinaryOp::add, a, a, bv);
  return a;
}

Tensor& mul_(Tensor& a, double s) {
  autograd::check_inplace(a, "mul_");
  if (is_floating(a.dtype())) {
    unary_kernels.get(a.device(), a.dtype(), "mul_")(UnaryOp::affine, a, a, s, 0.0);
  } else {
    binary_kernels.get(a.device(), a.dtype(), "mul_")(BinaryOp::mul, a, a, broadcast_view(scalar_like(s, a), a.shape()));
  }
  return a;
}

}  // namespace ops
}  // namespace kiln
