#include "tests/core/test_util.h"

#include <cmath>
#include <sstream>

namespace kiln::testing {

::testing::AssertionResult all_close(const Tensor& a, const Tensor& b, double atol, double rtol) {
  if (a.shape() != b.shape())
    return ::testing::AssertionFailure() << "shapes differ: " << a.shape() << " vs " << b.shape();
  std::vector<double> x = a.to_vector<double>(), y = b.to_vector<double>();
  double worst = 0;
  int64_t worst_i = -1, bad = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    double d = std::fabs(x[i] - y[i]);
    bool ok = d <= atol + rtol * std::fabs(y[i]) || (std::isnan(x[i]) && std::isnan(y[i])) || x[i] == y[i];
    if (!ok) {
      ++bad;
      if (d > worst || worst_i < 0) {
        worst = d;
        worst_i = int64_t(i);
      }
    }
  }
  if (bad == 0) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << bad << " of " << x.size() << " elements differ; worst at flat index "
                                       << worst_i << ": " << x[size_t(worst_i)] << " vs " << y[size_t(worst_i)]
                                       << " (|diff| " << worst << ", atol " << atol << ", rtol " << rtol << ")";
}

Tensor randn64(const Shape& shape, uint64_t seed) {
  Generator g(seed);
  return randn(shape, DType::f64, &g);
}

Tensor rand64(const Shape& shape, double lo, double hi, uint64_t seed) {
  Generator g(seed);
  return rand(shape, DType::f64, &g, lo, hi);
}

namespace {

double projected_loss(const std::function<Tensor(const std::vector<Tensor>&)>& fn, const std::vector<Tensor>& in,
                      const Tensor& w) {
  autograd::NoGrad ng;
  Tensor y = fn(in);
  return ops::sum(ops::mul(y.to(DType::f64), w)).item();
}

}  // namespace

::testing::AssertionResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                                     const std::vector<Tensor>& inputs, const GradcheckOptions& opts) {
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad() && t.dtype() != DType::f64)
      return ::testing::AssertionFailure() << "gradcheck needs f64 inputs, got " << dtype_name(t.dtype());
  for (const Tensor& t : inputs)
    if (t.defined() && t.requires_grad()) t.set_grad(Tensor());

  Tensor y = fn(inputs);
  if (!y.requires_grad()) return ::testing::AssertionFailure() << "output does not require grad";
  Generator g(12345);
  Tensor w = randn(y.shape(), DType::f64, &g);
  ops::sum(ops::mul(y.to(DType::f64), w)).backward();

  const double l0 = opts.skip_kinks ? projected_loss(fn, inputs, w) : 0.0;  // the unperturbed loss
  int64_t checked = 0, kinks = 0, total = 0;
  std::ostringstream failures;
  int reported = 0;
  for (size_t k = 0; k < inputs.size(); ++k) {
    const Tensor& x = inputs[k];
    if (!x.defined() || !x.requires_grad()) continue;
    Tensor analytic = x.grad();
    std::vector<double> ga = analytic.defined() ? analytic.to_vector<double>() : std::vector<double>(x.numel(), 0.0);
    KILN_CHECK(x.is_contiguous(), "gradcheck: inputs must be contiguous");
    double* p = x.data<double>();
    const int64_t n = x.numel();
    const int64_t count = opts.max_per_input > 0 ? std::min(n, opts.max_per_input) : n;
    for (int64_t j = 0; j < count; ++j) {
      // Evenly spaced: j (n - 1) / (count - 1) runs from the first coordinate to the last.
      const int64_t i = count == n || count == 1 ? j : j * (n - 1) / (count - 1);
      ++total;
      const double orig = p[i];
      p[i] = orig + opts.eps;
      double lp = projected_loss(fn, inputs, w);
      p[i] = orig - opts.eps;
      double lm = projected_loss(fn, inputs, w);
      p[i] = orig;
      double numeric = (lp - lm) / (2 * opts.eps);
      if (opts.skip_kinks) {
        double right = (lp - l0) / opts.eps, left = (l0 - lm) / opts.eps;
        double scale = std::max({1.0, std::fabs(right), std::fabs(left)});
        if (std::fabs(right - left) > 1e-3 * scale) {
          ++kinks;
          continue;
        }
      }
      ++checked;
      double a = ga[size_t(i)];
      if (!(std::fabs(a - numeric) <= opts.atol + opts.rtol * std::fabs(numeric))) {
        if (reported++ < 5)
          failures << "\n  input " << k << " element " << i << ": analytic " << a << ", numeric " << numeric;
      }
    }
  }
  if (reported > 0)
    return ::testing::AssertionFailure() << reported << " gradient elements disagree (of " << checked << " checked)"
                                         << failures.str();
  if (total > 0 && double(kinks) > opts.max_kink_fraction * double(total) + 1)
    return ::testing::AssertionFailure() << kinks << " of " << total
                                         << " coordinates sit on kinks: choose inputs away from them";
  if (checked == 0) return ::testing::AssertionFailure() << "nothing was checked";
  return ::testing::AssertionSuccess();
}

}  // namespace kiln::testing
