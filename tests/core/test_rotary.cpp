// Rotary position embedding: values from hand-computed angles, partial rotation, position
// offsets, the relative-position property, gradients, dtypes, errors.
#include <gtest/gtest.h>

#include <cmath>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::randn64;

// out[.., t, :] from the formula: pairs (i, i + R/2) rotated by (offset + t) theta^(-2i/R).
Tensor rotary_by_formula(const Tensor& x, double theta, int64_t R, int64_t offset) {
  const int64_t T = x.size(-2), D = x.size(-1), half = R / 2;
  std::vector<double> xv = x.to_vector<double>(), out = xv;
  for (size_t row = 0; row < xv.size() / size_t(D); ++row) {
    const double pos = double(offset + int64_t(row) % T);
    for (int64_t i = 0; i < half; ++i) {
      const double a = pos * std::pow(theta, -2.0 * double(i) / double(R));
      const double x1 = xv[row * size_t(D) + size_t(i)],
                   x2 = xv[row * size_t(D) + size_t(i + half)];
      out[row * size_t(D) + size_t(i)] = x1 * std::cos(a) - x2 * std::sin(a);
      out[row * size_t(D) + size_t(i + half)] = x2 * std::cos(a) + x1 * std::sin(a);
    }
  }
  return from_vector(out, x.shape());
}

TEST(Rotary, HandComputedAngles) {
  // D = 4, theta = 100: pair 0 turns by t radians, pair 1 by t / 10 (100^(-2/4) = 0.1).
  Tensor x = tensor({1, 2, 3, 4, 1, 2, 3, 4, 1, 2, 3, 4}, {1, 1, 3, 4}, DType::f64);
  RotaryOptions o;
  o.theta = 100.0;
  std::vector<double> y = rotary_embedding(x, o).to_vector<double>();
  for (int t = 0; t < 3; ++t) {
    const double a0 = t, a1 = t * 0.1;
    const double* r = y.data() + t * 4;
    EXPECT_NEAR(r[0], 1 * std::cos(a0) - 3 * std::sin(a0), 1e-15);
    EXPECT_NEAR(r[2], 3 * std::cos(a0) + 1 * std::sin(a0), 1e-15);
    EXPECT_NEAR(r[1], 2 * std::cos(a1) - 4 * std::sin(a1), 1e-15);
    EXPECT_NEAR(r[3], 4 * std::cos(a1) + 2 * std::sin(a1), 1e-15);
  }
  // Position 0 is the identity.
  EXPECT_EQ(y[0], 1.0);
  EXPECT_EQ(y[3], 4.0);
}

TEST(Rotary, MatchesTheFormula) {
  Tensor x = randn64({2, 3, 17, 16}, 1);
  RotaryOptions o;
  EXPECT_ALL_CLOSE(rotary_embedding(x, o), rotary_by_formula(x, 10000.0, 16, 0), 1e-14, 1e-13);
}

TEST(Rotary, PartialFractionRotatesAnEvenNumberOfDimsAndPassesTheRest) {
  Tensor x = randn64({1, 2, 5, 10}, 2);
  RotaryOptions o;
  o.fraction = 0.5;  // 5 dims, rounded down to 4
  Tensor y = rotary_embedding(x, o);
  EXPECT_ALL_CLOSE(y, rotary_by_formula(x, 10000.0, 4, 0), 1e-14, 1e-13);
  EXPECT_EQ(y.narrow(3, 4, 6).contiguous().to_vector<double>(),
            x.narrow(3, 4, 6).contiguous().to_vector<double>());
  o.fraction = 0.0;
  EXPECT_EQ(rotary_embedding(x, o).to_vector<double>(), x.to_vector<double>());
}

TEST(Rotary, PositionOffsetContinuesTheSequence) {
  Tensor x = randn64({2, 2, 12, 8}, 3);
  RotaryOptions o;
  o.theta = 500.0;
  Tensor full = rotary_embedding(x, o);
  o.position_offset = 7;
  Tensor tail = rotary_embedding(x.narrow(2, 7, 5), o);
  EXPECT_ALL_CLOSE(tail, full.narrow(2, 7, 5), 1e-14, 1e-13);
  EXPECT_ALL_CLOSE(tail, rotary_by_formula(x.narrow(2, 7, 5), 500.0, 8, 7), 1e-14, 1e-13);
}

TEST(Rotary, DotProductsDependOnlyOnRelativePosition) {
  // <R(m) q, R(n) k> = <q, R(n - m) k>: the property RoPE exists for.
  Tensor q = randn64({1, 1, 1, 8}, 4), k = randn64({1, 1, 1, 8}, 5);
  auto at = [](const Tensor& x, int64_t pos) {
    RotaryOptions o;
    o.position_offset = pos;
    return rotary_embedding(x, o);
  };
  const double d1 = sum(mul(at(q, 3), at(k, 8))).item(), d2 = sum(mul(at(q, 20), at(k, 25))).item();
  EXPECT_NEAR(d1, d2, 1e-12);
  // And norms are preserved.
  EXPECT_NEAR(sum(square(at(q, 13))).item(), sum(square(q)).item(), 1e-12);
}

TEST(Rotary, Gradcheck) {
  for (double fraction : {1.0, 0.5}) {
    Tensor x = randn64({1, 2, 4, 6}, 6).requires_grad_();
    RotaryOptions o;
    o.fraction = fraction;
    o.position_offset = 3;
    auto fn = [&](const std::vector<Tensor>& in) { return rotary_embedding(in[0], o); };
    EXPECT_GRADCHECK(fn, {x});
  }
}

TEST(Rotary, NonContiguousInput) {
  Tensor x = randn64({2, 9, 3, 8}, 7).transpose(1, 2);  // [2, 3, 9, 8] view
  EXPECT_ALL_CLOSE(rotary_embedding(x), rotary_by_formula(x, 10000.0, 8, 0), 1e-14, 1e-13);
}

TEST(Rotary, LowerPrecisions) {
  Tensor x = randn64({2, 2, 33, 16}, 8);
  Tensor ref = rotary_by_formula(x, 10000.0, 16, 5);
  RotaryOptions o;
  o.position_offset = 5;
  EXPECT_ALL_CLOSE(rotary_embedding(x.to(DType::f32), o), ref, 1e-5, 1e-5);
  EXPECT_ALL_CLOSE(rotary_embedding(x.to(DType::bf16), o), ref, 3e-2, 2e-2);
  EXPECT_ALL_CLOSE(rotary_embedding(x.to(DType::f16), o), ref, 5e-3, 2e-3);
  EXPECT_EQ(rotary_embedding(x.to(DType::bf16), o).dtype(), DType::bf16);
}

TEST(Rotary, FusedMatchesReference) {
  struct Opt {
    double theta, fraction;
    int64_t offset;
  };
  for (Opt c :
       {Opt{10000.0, 1.0, 0}, Opt{500.0, 0.5, 9}, Opt{10000.0, 0.25, 3}, Opt{1e6, 0.8, 100}}) {
    SCOPED_TRACE(::testing::Message()
                 << "theta " << c.theta << " fraction " << c.fraction << " offset " << c.offset);
    RotaryOptions o;
    o.theta = c.theta;
    o.fraction = c.fraction;
    o.position_offset = c.offset;
    Tensor x = randn64({2, 3, 19, 12}, 11);
    EXPECT_ALL_CLOSE(rotary_embedding(x, o), rotary_embedding_reference(x, o), 1e-13, 1e-12);
    EXPECT_ALL_CLOSE(rotary_embedding(x.to(DType::f32), o),
                     rotary_embedding_reference(x.to(DType::f32), o), 1e-5, 1e-5);
    EXPECT_ALL_CLOSE(rotary_embedding(x.to(DType::bf16), o),
                     rotary_embedding_reference(x.to(DType::bf16), o), 5e-2, 3e-2);
    // Gradients: the vjp of the fused op (rotation by -angle) against autograd through the ops.
    Tensor a = x.detach().requires_grad_(), b = x.detach().requires_grad_();
    Tensor g = randn64({2, 3, 19, 12}, 12);
    rotary_embedding(a, o).backward(g);
    rotary_embedding_reference(b, o).backward(g);
    EXPECT_ALL_CLOSE(a.grad(), b.grad(), 1e-13, 1e-12);
  }
}

TEST(Rotary, ReferenceGradcheck) {
  Tensor x = randn64({1, 2, 3, 6}, 13).requires_grad_();
  RotaryOptions o;
  o.fraction = 0.7;
  o.position_offset = 2;
  auto fn = [&](const std::vector<Tensor>& in) { return rotary_embedding_reference(in[0], o); };
  EXPECT_GRADCHECK(fn, {x});
}

TEST(Rotary, BadOptionsAreErrors) {
  Tensor x = randn64({1, 1, 2, 4});
  auto expect_error = [&](const RotaryOptions& o, const Tensor& in, const std::string& fragment) {
    try {
      rotary_embedding(in, o);
      ADD_FAILURE() << "expected an error containing '" << fragment << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    }
  };
  RotaryOptions o;
  o.fraction = 1.5;
  expect_error(o, x, "fraction must be in [0, 1], got 1.5");
  o = {};
  o.theta = 0;
  expect_error(o, x, "theta must be a positive number");
  o = {};
  o.position_offset = -1;
  expect_error(o, x, "position_offset must be >= 0");
  expect_error({}, randn64({4}), "expected x [B, H, T, D]");
  expect_error({}, arange(8).reshape({1, 1, 2, 4}), "floating");
}

}  // namespace
}  // namespace kiln
