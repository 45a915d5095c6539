#include "core/nn/init.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/autograd/autograd.h"
#include "core/base/threads.h"
#include "core/tensor/factory.h"

namespace kiln::nn::init {

namespace {

thread_local bool skip_random = false;

Tensor& checked(Tensor& t, const char* op) {
  KILN_CHECK(t.defined(), "init.", op, ": the tensor is undefined");
  KILN_CHECK(is_floating(t.dtype()), "init.", op, ": expected a floating tensor, got ",
             dtype_name(t.dtype()), " with shape ", t.shape());
  return t;
}

// Writes host values (f64, row-major) into t. Initialising a parameter is not part of the
// graph, so grad mode is off for the write (copy_ refuses a leaf that requires grad otherwise).
Tensor assign(Tensor t, const Tensor& values) {
  autograd::NoGrad no_grad;
  t.copy_(values);
  return t;
}

double fan_for(const Tensor& t, FanMode mode, const char* op) {
  KILN_CHECK(t.dim() >= 2, "init.", op,
             ": fan in and fan out need a tensor of at least 2 dims, got shape ", t.shape());
  Fans f = compute_fans(t.shape());
  return double(mode == FanMode::fan_in ? f.fan_in : f.fan_out);
}

double std_normal_cdf(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}

}  // namespace

SkipRandomInit::SkipRandomInit() : previous_(skip_random) {
  skip_random = true;
}
SkipRandomInit::~SkipRandomInit() {
  skip_random = previous_;
}

Fans compute_fans(const Shape& shape) {
  KILN_CHECK(shape.size() >= 2,
             "init: fan in and fan out need a tensor of at least 2 dims, got shape ", shape);
  int64_t receptive = 1;
  for (size_t d = 2; d < shape.size(); ++d) receptive *= shape[d];
  return {shape[1] * receptive, shape[0] * receptive};
}

double calculate_gain(Nonlinearity nl, double param) {
  switch (nl) {
    case Nonlinearity::linear:
    case Nonlinearity::sigmoid:
      return 1.0;
    case Nonlinearity::relu:
      return std::sqrt(2.0);
    case Nonlinearity::leaky_relu:
      return std::sqrt(2.0 / (1.0 + param * param));
    case Nonlinearity::tanh:
      return 5.0 / 3.0;
  }
  KILN_FAIL("calculate_gain: unknown nonlinearity ", int(nl));
}

Tensor zeros_(Tensor t) {
  return constant_(t, 0.0);
}
Tensor ones_(Tensor t) {
  return constant_(t, 1.0);
}

Tensor constant_(Tensor t, double value) {
  checked(t, "constant_");
  autograd::NoGrad no_grad;
  t.fill_(value);
  return t;
}

Tensor uniform_(Tensor t, double low, double high, Generator* gen) {
  checked(t, "uniform_");
  KILN_CHECK(low <= high, "init.uniform_: expected low <= high, got [", low, ", ", high, ")");
  if (skip_random) return t;
  return assign(t, rand(t.shape(), DType::f64, gen, low, high));
}

Tensor normal_(Tensor t, double mean, double std, Generator* gen) {
  checked(t, "normal_");
  KILN_CHECK(std >= 0, "init.normal_: std must be >= 0, got ", std);
  if (skip_random) return t;
  return assign(t, randn(t.shape(), DType::f64, gen, mean, std));
}

Tensor trunc_normal_(Tensor t, double mean, double std, double a, double b, Generator* gen) {
  checked(t, "trunc_normal_");
  KILN_CHECK(std > 0, "init.trunc_normal_: std must be > 0, got ", std);
  KILN_CHECK(a < b, "init.trunc_normal_: expected a < b, got a = ", a, ", b = ", b);
  if (skip_random) return t;
  double alpha = (a - mean) / std, beta = (b - mean) / std;
  // CDF values near 1 lose their digits (1 - 1e-17 == 1): draw an interval in the upper tail
  // as its mirror image in the lower tail, where Phi keeps full relative precision.
  const bool mirror = alpha > 0;
  if (mirror) {
    const double lower = -beta, upper = -alpha;
    alpha = lower;
    beta = upper;
  }
  const double lo = std_normal_cdf(alpha), hi = std_normal_cdf(beta);
  KILN_CHECK(hi > lo, "init.trunc_normal_: the interval [", a, ", ", b,
             "] has no probability mass under N(", mean, ", ", std, "^2) in double precision");
  Tensor u = rand(t.shape(), DType::f64, gen);
  double* p = u.data<double>();
  const int64_t n = u.numel();
  // Elementwise, so the thread count cannot change the result.
#pragma omp parallel for num_threads(num_threads()) schedule(static) if (n >= 16384)
  for (int64_t i = 0; i < n; ++i) {
    // u has 24 random bits; the centre of its cell keeps p strictly inside (lo, hi).
    double q = lo + (hi - lo) * (p[i] + 0x1p-25);
    double z = normal_quantile(q);
    if (mirror) z = -z;
    p[i] = std::clamp(mean + std * z, a, b);
  }
  return assign(t, u);
}

Tensor xavier_uniform_(Tensor t, double gain, Generator* gen) {
  checked(t, "xavier_uniform_");
  KILN_CHECK(t.dim() >= 2, "init.xavier_uniform_: needs a tensor of at least 2 dims, got shape ",
             t.shape());
  Fans f = compute_fans(t.shape());
  double std = gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out));
  double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor xavier_normal_(Tensor t, double gain, Generator* gen) {
  checked(t, "xavier_normal_");
  KILN_CHECK(t.dim() >= 2, "init.xavier_normal_: needs a tensor of at least 2 dims, got shape ",
             t.shape());
  Fans f = compute_fans(t.shape());
  return normal_(t, 0.0, gain * std::sqrt(2.0 / double(f.fan_in + f.fan_out)), gen);
}

Tensor kaiming_uniform_(Tensor t, double a, FanMode mode, Nonlinearity nl, Generator* gen) {
  checked(t, "kaiming_uniform_");
  double std = calculate_gain(nl, a) / std::sqrt(fan_for(t, mode, "kaiming_uniform_"));
  double bound = std::sqrt(3.0) * std;
  return uniform_(t, -bound, bound, gen);
}

Tensor kaiming_normal_(Tensor t, double a, FanMode mode, Nonlinearity nl, Generator* gen) {
  checked(t, "kaiming_normal_");
  double std = calculate_gain(nl, a) / std::sqrt(fan_for(t, mode, "kaiming_normal_"));
  return normal_(t, 0.0, std, gen);
}

Tensor scaled_residual_normal_(Tensor t, double std, int64_t n_layers, Generator* gen) {
  KILN_CHECK(n_layers >= 1, "init.scaled_residual_normal_: n_layers must be >= 1, got ", n_layers);
  return normal_(t, 0.0, std / std::sqrt(2.0 * double(n_layers)), gen);
}

// Acklam's rational approximation (relative error 1.15e-9), then one Halley step on
// Phi(x) - p = 0, which squares the error down to double precision.
double normal_quantile(double p) {
  if (p <= 0) return -std::numeric_limits<double>::infinity();
  if (p >= 1) return std::numeric_limits<double>::infinity();
  static const double a[] = {-3.969683028665376e+01, 2.209460984245205e+02,  -2.759285104469687e+02,
                             1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                             6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                             -2.549732539343734e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                             3.754408661907416e+00};
  const double p_low = 0.02425;
  double x;
  if (p < p_low) {
    double q = std::sqrt(-2 * std::log(p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (p <= 1 - p_low) {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    double q = std::sqrt(-2 * std::log1p(-p));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  double e = std_normal_cdf(x) - p;
  double u = e * std::sqrt(2 * M_PI) * std::exp(x * x / 2);
  return x - u / (1 + x * u / 2);
}

}  // namespace kiln::nn::init
