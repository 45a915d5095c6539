// Initialisation schemes: moments and bounds of large draws against the formulas, fans and
// gains as PyTorch defines them, truncated normal bounds, determinism.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "core/nn/init.h"
#include "core/nn/module.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

namespace init = nn::init;

struct Stats {
  double mean = 0, std = 0, min = 0, max = 0;
  int64_t n = 0;
};

Stats stats_of(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  Stats s;
  s.n = int64_t(v.size());
  for (double x : v) s.mean += x;
  s.mean /= double(s.n);
  for (double x : v) s.std += (x - s.mean) * (x - s.mean);
  s.std = std::sqrt(s.std / double(s.n - 1));
  s.min = *std::min_element(v.begin(), v.end());
  s.max = *std::max_element(v.begin(), v.end());
  return s;
}

// With n ~ 5e5 draws, the sample mean is within 5 standard errors (std/sqrt(n)) and the sample
// std within 1% of the truth (its relative standard error is 1/sqrt(2n) ~ 0.1%).
void expect_moments(const Stats& s, double mean, double std) {
  EXPECT_NEAR(s.mean, mean, 5 * std / std::sqrt(double(s.n)));
  EXPECT_NEAR(s.std, std, 0.01 * std);
}

double phi(double x) {
  return std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
}
double Phi(double x) {
  return 0.5 * std::erfc(-x / std::sqrt(2.0));
}

constexpr int64_t kOut = 512, kIn = 1024;

TEST(Init, FansAsPyTorch) {
  init::Fans f = init::compute_fans({3, 5});
  EXPECT_EQ(f.fan_in, 5);
  EXPECT_EQ(f.fan_out, 3);
  f = init::compute_fans({8, 4, 3, 3});  // conv weight [out, in, kh, kw]: receptive field 9
  EXPECT_EQ(f.fan_in, 36);
  EXPECT_EQ(f.fan_out, 72);
  EXPECT_THROW(init::compute_fans({7}), Error);
  EXPECT_THROW(init::xavier_uniform_(zeros({7})), Error);
  EXPECT_THROW(init::kaiming_normal_(zeros({7})), Error);
}

TEST(Init, GainsAsPyTorch) {
  EXPECT_EQ(init::calculate_gain(init::Nonlinearity::linear), 1.0);
  EXPECT_EQ(init::calculate_gain(init::Nonlinearity::sigmoid), 1.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::relu), std::sqrt(2.0));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::tanh), 5.0 / 3.0);
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::leaky_relu),
                   std::sqrt(2.0 / (1 + 0.01 * 0.01)));
  EXPECT_DOUBLE_EQ(init::calculate_gain(init::Nonlinearity::leaky_relu, 0.2),
                   std::sqrt(2.0 / 1.04));
}

TEST(Init, ConstantZerosOnes) {
  Tensor t = empty({3, 4}, DType::bf16);
  EXPECT_EQ(init::constant_(t, 2.5).to_vector<float>(), std::vector<float>(12, 2.5f));
  EXPECT_EQ(init::zeros_(t).to_vector<float>(), std::vector<float>(12, 0.0f));
  EXPECT_EQ(init::ones_(t).to_vector<float>(), std::vector<float>(12, 1.0f));
}

TEST(Init, NormalMoments) {
  Tensor t = empty({kOut, kIn});
  Generator g(1);
  expect_moments(stats_of(init::normal_(t, 0.5, 2.0, &g)), 0.5, 2.0);
}

TEST(Init, UniformMomentsAndBounds) {
  Tensor t = empty({kOut, kIn}, DType::f64);
  Generator g(2);
  Stats s = stats_of(init::uniform_(t, -3.0, 1.0, &g));
  expect_moments(s, -1.0, 4.0 / std::sqrt(12.0));
  EXPECT_GE(s.min, -3.0);
  EXPECT_LT(s.max, 1.0);
  EXPECT_LT(s.min, -2.99);
  EXPECT_GT(s.max, 0.99);
}

TEST(Init, XavierUniformAndNormal) {
  Tensor t = empty({kOut, kIn});
  Generator g(3);
  const double gain = 1.7;
  const double std = gain * std::sqrt(2.0 / double(kIn + kOut));
  Stats s = stats_of(init::xavier_uniform_(t, gain, &g));
  expect_moments(s, 0.0, std);
  const double bound = std::sqrt(3.0) * std;  // = gain * sqrt(6 / (fan_in + fan_out))
  EXPECT_GE(s.min, -bound);
  EXPECT_LE(s.max, bound);
  EXPECT_GT(s.max, 0.99 * bound);
  expect_moments(stats_of(init::xavier_normal_(t, gain, &g)), 0.0, std);
}

TEST(Init, KaimingUniformAndNormal) {
  Tensor t = empty({kOut, kIn / 16, 4, 4});  // fan_in = kIn, fan_out = 16 * kOut
  Generator g(4);
  // PyTorch's Linear default: kaiming_uniform_(a = sqrt(5)) gives a bound of 1/sqrt(fan_in).
  Stats s = stats_of(init::kaiming_uniform_(t, std::sqrt(5.0), init::FanMode::fan_in,
                                            init::Nonlinearity::leaky_relu, &g));
  const double bound = 1.0 / std::sqrt(double(kIn));
  EXPECT_GE(s.min, -bound);
  EXPECT_LE(s.max, bound);
  EXPECT_GT(s.max, 0.99 * bound);
  expect_moments(s, 0.0, bound / std::sqrt(3.0));
  // relu, fan_out: std = sqrt(2) / sqrt(fan_out).
  s = stats_of(init::kaiming_normal_(t, 0.0, init::FanMode::fan_out, init::Nonlinearity::relu, &g));
  expect_moments(s, 0.0, std::sqrt(2.0) / std::sqrt(16.0 * kOut));
  // tanh, fan_in.
  s = stats_of(init::kaiming_normal_(t, 0.0, init::FanMode::fan_in, init::Nonlinearity::tanh, &g));
  expect_moments(s, 0.0, (5.0 / 3.0) / std::sqrt(double(kIn)));
}

TEST(Init, ScaledResidualNormalIsGpt2s) {
  Tensor t = empty({kOut, kIn});
  Generator g(5);
  expect_moments(stats_of(init::scaled_residual_normal_(t, 0.02, 12, &g)), 0.0,
                 0.02 / std::sqrt(24.0));
}

// Mean and std of N(mu, sigma^2) truncated to [a, b], from the textbook formulas.
std::pair<double, double> truncated_moments(double mu, double sigma, double a, double b) {
  double al = (a - mu) / sigma, be = (b - mu) / sigma, z = Phi(be) - Phi(al);
  double m = (phi(al) - phi(be)) / z;
  double var = 1 + (al * phi(al) - be * phi(be)) / z - m * m;
  return {mu + sigma * m, sigma * std::sqrt(var)};
}

TEST(Init, TruncNormalBoundsAndMoments) {
  struct Case {
    double mean, std, a, b;
  } cases[] = {
      {0, 1, -2, 2}, {1, 2, 0, 5}, {0, 1, 3, 4}, {0, 1, -5, -3.5}, {0.0, 0.02, -0.04, 0.04}};
  Generator g(6);
  for (const Case& c : cases) {
    Tensor t = empty({kOut, kIn}, DType::f64);
    Stats s = stats_of(init::trunc_normal_(t, c.mean, c.std, c.a, c.b, &g));
    auto [m, sd] = truncated_moments(c.mean, c.std, c.a, c.b);
    SCOPED_TRACE(::testing::Message()
                 << "N(" << c.mean << ", " << c.std << "^2) on [" << c.a << ", " << c.b << "]");
    EXPECT_GE(s.min, c.a);
    EXPECT_LE(s.max, c.b);
    expect_moments(s, m, sd);
  }
  EXPECT_THROW(init::trunc_normal_(empty({2}), 0, 1, 2, 1), Error);
}

TEST(Init, NormalQuantileInvertsTheCdf) {
  EXPECT_NEAR(init::normal_quantile(0.975), 1.959963984540054, 1e-14);
  EXPECT_EQ(init::normal_quantile(0.5), 0.0);
  for (double p : {1e-300, 1e-12, 1e-5, 0.01, 0.02425, 0.3, 0.7, 0.99, 1 - 1e-9})
    EXPECT_NEAR(Phi(init::normal_quantile(p)), p, 1e-12 * p) << p;
  EXPECT_TRUE(std::isinf(init::normal_quantile(0.0)));
}

TEST(Init, DeterministicBySeedAndThreadCount) {
  auto draw = [](uint64_t seed, int threads) {
    ThreadCountGuard guard(threads);
    Generator g(seed);
    Tensor t = empty({300, 700});
    init::trunc_normal_(t, 0, 1, -2, 2, &g);
    std::vector<float> a = t.to_vector<float>();
    init::kaiming_uniform_(t, 0.0, init::FanMode::fan_in, init::Nonlinearity::relu, &g);
    std::vector<float> b = t.to_vector<float>();
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  EXPECT_EQ(draw(11, 1), draw(11, 1));
  EXPECT_EQ(draw(11, 1), draw(11, 2));
  EXPECT_NE(draw(11, 1), draw(12, 1));
}

TEST(Init, InitialisesParametersInPlace) {
  struct M : nn::Module {
    nn::Parameter w;
    M() { w = register_parameter("w", zeros({64, 32}, DType::bf16)); }
  } m;
  Generator g(8);
  void* before = m.w.data_ptr();
  init::xavier_normal_(m.w, 1.0, &g);
  EXPECT_EQ(m.w.data_ptr(), before);
  EXPECT_TRUE(m.w.requires_grad());
  EXPECT_GT(stats_of(m.w).std, 0.1);
  EXPECT_THROW(init::normal_(arange(4)), Error);
}


float max_abs(const Tensor& t) {
  float m = 0;
  for (int64_t i = 0; i < t.numel(); ++i) m = std::max(m, std::abs(t.data<float>()[i]));
  return m;
}

// SkipRandomInit turns the random initialisers into no-ops on this thread while it lives (spec
// check and dump count parameters without drawing them); constant_ still writes.
TEST(Init, SkipRandomInitLeavesTensorsAsTheyAreWhileAlive) {
  Tensor t = zeros({64});
  {
    init::SkipRandomInit skip;
    init::normal_(t, 0.0, 1.0);
    init::uniform_(t, 1.0, 2.0);
    init::trunc_normal_(t, 0.0, 1.0);
    init::xavier_uniform_(t.reshape({8, 8}));
    EXPECT_EQ(max_abs(t), 0.0f);
    {
      init::SkipRandomInit nested;
    }
    init::normal_(t, 0.0, 1.0);  // the outer guard still holds after the nested one ends
    EXPECT_EQ(max_abs(t), 0.0f);
    init::constant_(t, 3.0);
    EXPECT_EQ(t.data<float>()[0], 3.0f);
  }
  init::normal_(t, 0.0, 1.0);
  EXPECT_GT(max_abs(t), 0.0f);
}

}  // namespace
}  // namespace kiln
