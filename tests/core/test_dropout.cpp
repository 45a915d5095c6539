// Dropout: counter-based masks, scaling, regenerated masks in backward, identity cases, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::randn64;

// The keep flags of a draw, computed straight from uniform_at (independent of the kernel's
// integer threshold).
std::vector<bool> expected_keep(const RngState& s, int64_t n, double p) {
  std::vector<bool> keep(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) keep[size_t(i)] = double(uniform_at(s, uint64_t(i))) >= p;
  return keep;
}

TEST(Dropout, KeepsAboutOneMinusPAndScalesTheRest) {
  const double p = 0.3;
  const int64_t n = 100000;
  Tensor x = randn64({n}, 3);
  Generator g(42);
  const RngState s = g.state();
  std::vector<double> y = dropout(x, p, true, &g).to_vector<double>();
  std::vector<double> xv = x.to_vector<double>();
  std::vector<bool> keep = expected_keep(s, n, p);
  int64_t kept = 0;
  for (int64_t i = 0; i < n; ++i) {
    if (keep[size_t(i)]) {
      ++kept;
      ASSERT_NEAR(y[size_t(i)], xv[size_t(i)] / (1 - p), 1e-14 * std::fabs(xv[size_t(i)]) + 1e-300)
          << i;
    } else {
      ASSERT_EQ(y[size_t(i)], 0.0) << i;
    }
  }
  // Binomial: the standard deviation of the kept fraction is sqrt(p (1-p) / n) ~ 0.00145.
  EXPECT_NEAR(double(kept) / double(n), 1 - p, 0.008);
}

TEST(Dropout, ReservesBlocksAndReplaysFromTheSameState) {
  Tensor x = ones({10, 7}, DType::f32);
  Generator g(5);
  const RngState s0 = g.state();
  Tensor a = dropout(x, 0.5, true, &g);
  // 70 elements take ceil(70 / 4) = 18 Philox blocks.
  EXPECT_EQ(g.state().offset, s0.offset + 18);
  Tensor b = dropout(x, 0.5, true, &g);
  EXPECT_NE(a.to_vector<float>(), b.to_vector<float>());
  g.set_state(s0);
  Tensor c = dropout(x, 0.5, true, &g);
  EXPECT_EQ(a.to_vector<float>(), c.to_vector<float>());
}

TEST(Dropout, MaskMatchesUniformAtAndTheOpItself) {
  const double p = 0.25;
  const RngState s{77, 1234};
  Tensor m = dropout_mask({3, 5, 11}, p, s);
  EXPECT_EQ(m.dtype(), DType::boolean);
  EXPECT_EQ(m.to_vector<bool>(), expected_keep(s, 165, p));
  Generator g;
  g.set_state(s);
  Tensor y = dropout(ones({3, 5, 11}, DType::f64), p, true, &g);
  std::vector<double> yv = y.to_vector<double>();
  std::vector<bool> mv = m.to_vector<bool>();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_EQ(yv[i] != 0.0, bool(mv[i])) << i;
}

TEST(Dropout, MaskDoesNotDependOnThreadCount) {
  const RngState s{9, 3};
  Tensor one, many;
  {
    ThreadCountGuard t(1);
    one = dropout_mask({300000}, 0.4, s);
  }
  {
    ThreadCountGuard t(3);
    many = dropout_mask({300000}, 0.4, s);
  }
  EXPECT_EQ(one.to_vector<bool>(), many.to_vector<bool>());
}

TEST(Dropout, BackwardRegeneratesTheMask) {
  const double p = 0.4;
  Tensor x = randn64({6, 9}, 2).requires_grad_();
  Generator g(11);
  const RngState s = g.state();
  Tensor y = dropout(x, p, true, &g);
  g.manual_seed(999);  // backward must not read the generator again
  y.backward(ones_like(y));
  std::vector<bool> keep = expected_keep(s, 54, p);
  std::vector<double> gx = x.grad().to_vector<double>();
  for (size_t i = 0; i < gx.size(); ++i)
    EXPECT_DOUBLE_EQ(gx[i], keep[i] ? 1.0 / (1 - p) : 0.0) << i;
}

TEST(Dropout, Gradcheck) {
  Generator g(3);
  const RngState s = g.state();
  Tensor x = randn64({4, 5}, 4).requires_grad_();
  auto fn = [&](const std::vector<Tensor>& in) {
    g.set_state(s);  // the same mask for every evaluation of the finite differences
    return dropout(in[0], 0.3, true, &g);
  };
  EXPECT_GRADCHECK(fn, {x});
}

TEST(Dropout, NonContiguousInputUsesRowMajorIndices) {
  Tensor x = randn64({5, 8}, 6);
  Tensor xt = x.mT();  // [8, 5], non-contiguous
  Generator g(1);
  const RngState s = g.state();
  Tensor y = dropout(xt, 0.5, true, &g);
  Tensor expected = mul(mul(xt.contiguous(), dropout_mask({8, 5}, 0.5, s).to(DType::f64)), 2.0);
  EXPECT_ALL_CLOSE(y, expected, 0, 1e-15);
}

TEST(Dropout, IdentityWhenNotTrainingOrPZero) {
  Tensor x = randn64({4, 4}, 8);
  Generator g(1);
  const RngState s = g.state();
  EXPECT_EQ(dropout(x, 0.5, /*training=*/false, &g).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(dropout(x, 0.0, true, &g).to_vector<double>(), x.to_vector<double>());
  EXPECT_EQ(g.state().offset, s.offset);  // no draw was made
}

TEST(Dropout, HalfPrecision) {
  Tensor x = randn64({1000}, 10);
  for (DType t : {DType::f32, DType::bf16, DType::f16}) {
    Generator g1(4), g2(4);
    Tensor y = dropout(x.to(t), 0.2, true, &g1);
    Tensor ref = dropout(x, 0.2, true, &g2);
    EXPECT_EQ(y.dtype(), t);
    EXPECT_ALL_CLOSE(y, ref, 1e-6, t == DType::f32 ? 1e-6 : 1e-2);
  }
}

TEST(Dropout, BadProbabilityIsAnError) {
  Tensor x = ones({3});
  for (double p : {1.0, -0.1, 1.5, std::nan("")}) {
    try {
      dropout(x, p);
      FAIL() << "expected an error for p = " << p;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("dropout: p must be in [0, 1)"), std::string::npos)
          << e.what();
    }
  }
  EXPECT_THROW(dropout_mask({3}, 1.0, RngState{}), Error);
  try {
    dropout(arange(4), 0.5);
    FAIL() << "expected an error for an integer tensor";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("floating"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln
