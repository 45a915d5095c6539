// Loss family: the fused cross_entropy against a plain-loop f64 definition (-sum_c q_c log p_c)
// and against its composition from ops, finite-difference gradients for every option, halves,
// bitwise stability across thread counts, and the errors for bad targets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::all_close;
using testing::randn64;

template <class F>
void expect_error(F&& f, const std::vector<std::string>& parts) {
  try {
    f();
    ADD_FAILURE() << "expected a kiln::Error mentioning " << parts[0];
  } catch (const Error& e) {
    std::string m = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(m.find(p), std::string::npos) << "missing '" << p << "' in: " << m;
  }
}

CrossEntropyOptions options(Reduction r, double smoothing = 0.0, int64_t ignore = -100) {
  CrossEntropyOptions o;
  o.reduction = r;
  o.label_smoothing = smoothing;
  o.ignore_index = ignore;
  return o;
}

const char* name(Reduction r) {
  return r == Reduction::mean ? "mean" : r == Reduction::sum ? "sum" : "none";
}

// The definition, row by row in f64: q = (1 - s) one_hot(t) + s / C, loss = -sum_c q_c log p_c,
// 0 for an ignored row. Returns the per-row losses and the count of rows not ignored.
std::vector<double> loop_rows(const Tensor& logits, const Tensor& target,
                              const CrossEntropyOptions& o, int64_t* count) {
  const int64_t C = logits.size(-1), N = logits.numel() / C;
  std::vector<double> x = logits.to_vector<double>();
  std::vector<int64_t> t = target.to_vector<int64_t>();
  std::vector<double> rows(size_t(N), 0.0);
  *count = 0;
  for (int64_t n = 0; n < N; ++n) {
    if (t[size_t(n)] == o.ignore_index) continue;
    ++*count;
    const double* r = x.data() + n * C;
    double m = *std::max_element(r, r + C), z = 0;
    for (int64_t c = 0; c < C; ++c) z += std::exp(r[c] - m);
    const double lse = m + std::log(z);
    double loss = 0;
    for (int64_t c = 0; c < C; ++c) {
      double q =
          (c == t[size_t(n)] ? 1.0 - o.label_smoothing : 0.0) + o.label_smoothing / double(C);
      loss += q * (lse - r[c]);
    }
    rows[size_t(n)] = loss;
  }
  return rows;
}

Tensor loop_loss(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& o) {
  int64_t count = 0;
  std::vector<double> rows = loop_rows(logits, target, o, &count);
  if (o.reduction == Reduction::none) return from_vector(rows, target.shape());
  double s = 0;
  for (double v : rows) s += v;
  return scalar(o.reduction == Reduction::sum ? s : s / double(count), DType::f64);
}

// Targets for [2, 3] rows of 5 classes with some rows ignored: two when ignore_index is -100,
// three when it is the class 4 (which then counts as ignored wherever it appears).
Tensor some_targets(DType dt, int64_t ignore = -100) {
  return tensor({3, double(ignore), 0, 4, double(ignore), 1}, {2, 3}, DType::f64).to(dt);
}

TEST(Loss, CrossEntropyMatchesPlainLoop) {
  for (DType dt : {DType::f64, DType::f32})
    for (DType tt : {DType::i32, DType::i64})
      for (double s : {0.0, 0.25})
        for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
          for (int64_t ignore : {-100, 4}) {
            Tensor logits = mul(randn64({2, 3, 5}, 3), 3.0).to(dt);
            Tensor target = some_targets(tt, ignore);
            CrossEntropyOptions o = options(r, s, ignore);
            Tensor got = cross_entropy(logits, target, o);
            EXPECT_EQ(got.dtype(), dt);
            EXPECT_EQ(got.shape(), r == Reduction::none ? target.shape() : Shape{});
            const double tol = dt == DType::f64 ? 1e-12 : 1e-5;
            EXPECT_TRUE(all_close(got, loop_loss(logits, target, o), tol, tol))
                << dtype_name(dt) << " " << dtype_name(tt) << " smoothing " << s << " " << name(r)
                << " ignore " << ignore;
          }
}

TEST(Loss, CrossEntropyByHand) {
  // Two classes with logits [0, log 3]: p = [1/4, 3/4]. Target 1 costs log(4/3), target 0
  // costs log 4; the mean of the two is (log(4/3) + log 4) / 2.
  Tensor logits = tensor({0, std::log(3.0), 0, std::log(3.0)}, {2, 2}, DType::f64);
  Tensor target = tensor({1, 0}, {}, DType::i64);
  EXPECT_NEAR(cross_entropy(logits, target).item(), (std::log(4.0 / 3.0) + std::log(4.0)) / 2,
              1e-15);
  // Smoothing 0.5 over 2 classes: q = [0.25, 0.75] for target 1.
  double want = -(0.25 * std::log(0.25) + 0.75 * std::log(0.75));
  EXPECT_NEAR(
      cross_entropy(logits.narrow(0, 0, 1), target.narrow(0, 0, 1), options(Reduction::sum, 0.5))
          .item(),
      want, 1e-15);
}

TEST(Loss, CrossEntropyGradcheckForEveryOption) {
  for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
    for (double s : {0.0, 0.3})
      for (bool ignore : {false, true}) {
        Tensor logits = randn64({2, 3, 5}, 5).requires_grad_();
        Tensor target =
            ignore ? some_targets(DType::i64) : tensor({3, 2, 0, 4, 1, 1}, {2, 3}, DType::i64);
        CrossEntropyOptions o = options(r, s);
        auto f = [target, o](const std::vector<Tensor>& in) {
          return cross_entropy(in[0], target, o);
        };
        EXPECT_GRADCHECK(f, {logits}) << name(r) << " smoothing " << s << " ignore " << ignore;
      }
}

TEST(Loss, GradientIsSoftmaxMinusTargetAndZeroWhenIgnored) {
  Tensor logits = randn64({4, 6}, 8).requires_grad_();
  Tensor target = tensor({5, -100, 0, 2}, {}, DType::i32);
  cross_entropy(logits, target, options(Reduction::sum, 0.1)).backward();
  std::vector<double> x = logits.to_vector<double>(), g = logits.grad().to_vector<double>();
  std::vector<int64_t> t = target.to_vector<int64_t>();
  for (int64_t n = 0; n < 4; ++n) {
    double z = 0;
    for (int64_t c = 0; c < 6; ++c) z += std::exp(x[size_t(n * 6 + c)]);
    for (int64_t c = 0; c < 6; ++c) {
      double want = t[size_t(n)] < 0 ? 0.0
                                     : std::exp(x[size_t(n * 6 + c)]) / z -
                                           (c == t[size_t(n)] ? 0.9 : 0.0) - 0.1 / 6;
      EXPECT_NEAR(g[size_t(n * 6 + c)], want, 1e-14) << n << "," << c;
    }
  }
}

// Loss and logits gradient under a fixed output gradient rounded to the loss dtype.
std::pair<Tensor, Tensor> loss_and_grad(const std::function<Tensor(const Tensor&)>& f,
                                        const Tensor& logits0) {
  Tensor logits = logits0.clone().requires_grad_();
  Tensor y = f(logits);
  y.backward(add(mul(randn64(y.shape(), 31), 0.5), 1.0).to(y.dtype()));
  return {y, logits.grad()};
}

TEST(Loss, FusedMatchesReference) {
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::f16})
    for (Reduction r : {Reduction::mean, Reduction::sum, Reduction::none})
      for (double s : {0.0, 0.1}) {
        Tensor logits = mul(randn64({3, 4, 50}, 2), 2.0).to(dt);
        Tensor target = tensor({3, 49, 0, -100, 7, 7, 12, 1, 2, 3, -100, 40}, {3, 4}, DType::i64);
        CrossEntropyOptions o = options(r, s);
        auto [y, g] =
            loss_and_grad([&](const Tensor& l) { return cross_entropy(l, target, o); }, logits);
        auto [ry, rg] = loss_and_grad(
            [&](const Tensor& l) { return cross_entropy_reference(l, target, o); }, logits);
        // The loss of half logits is f32, computed in f32 like the reference: tight for all.
        EXPECT_EQ(y.dtype(), dt == DType::f64 ? DType::f64 : DType::f32);
        const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
        EXPECT_TRUE(all_close(y, ry, tol, tol)) << dtype_name(dt) << " " << name(r) << " " << s;
        // Half gradients are rounded once each: allow an ulp of bf16 (2^-8) / f16 (2^-11).
        const double gtol = dt == DType::bf16 ? 8e-3 : dt == DType::f16 ? 1e-3 : tol;
        EXPECT_EQ(g.dtype(), dt);
        EXPECT_TRUE(all_close(g, rg, gtol * 0.1, gtol))
            << dtype_name(dt) << " " << name(r) << " " << s;
      }
}

TEST(Loss, MeanOverNoTargetsIsNaNWithZeroGradient) {
  // As PyTorch: the mean over zero targets is 0/0; no row contributes a gradient.
  Tensor logits = randn64({2, 3}).requires_grad_();
  Tensor target = tensor({-100, -100}, {}, DType::i64);
  Tensor y = cross_entropy(logits, target);
  EXPECT_TRUE(std::isnan(y.item()));
  y.backward();
  EXPECT_EQ(logits.grad().to_vector<double>(), std::vector<double>(6, 0.0));
  EXPECT_EQ(cross_entropy(logits, target, options(Reduction::sum)).item(), 0.0);
}

TEST(Loss, LargeLogitsAreStable) {
  Tensor logits = tensor({1000, 1001, 999, -1000, -1001, -1002}, {2, 3}, DType::f32);
  Tensor target = tensor({0, 2}, {}, DType::i64);
  Tensor y = cross_entropy(logits, target, options(Reduction::none));
  EXPECT_TRUE(all_close(y, loop_loss(logits, target, options(Reduction::none)), 1e-5, 1e-5));
  EXPECT_TRUE(
      all_close(y, cross_entropy_reference(logits, target, options(Reduction::none)), 1e-5, 1e-5));
}

TEST(Loss, IsBitwiseStableAcrossThreads) {
  Generator gen(5);
  Tensor logits = randn({6000, 200}, DType::f32, &gen);
  Tensor target = randint(0, 200, {6000}, DType::i64, &gen);
  std::pair<Tensor, Tensor> first;
  for (int t : {1, 2, 3}) {
    ThreadCountGuard guard(t);
    auto got = loss_and_grad(
        [&](const Tensor& l) { return cross_entropy(l, target, options(Reduction::mean, 0.1)); },
        logits);
    if (t == 1) {
      first = got;
      continue;
    }
    EXPECT_TRUE(all_close(got.first, first.first, 0, 0)) << t << " threads";
    EXPECT_TRUE(all_close(got.second, first.second, 0, 0)) << t << " threads";
  }
}

TEST(Loss, BadTargetsAndOptionsAreRefused) {
  Tensor logits = zeros({2, 5});
  expect_error(
      [&] {
        cross_entropy(logits, tensor({1, 7}, {}, DType::i64));
      },
      {"cross_entropy", "target 7", "5 classes"});
  expect_error(
      [&] {
        cross_entropy(logits, tensor({-1, 0}, {}, DType::i32));
      },
      {"cross_entropy", "target -1", "-100"});
  expect_error(
      [&] {
        cross_entropy(logits, tensor({5, 0}, {}, DType::i64), options(Reduction::mean, 0, 4));
      },
      {"cross_entropy", "target 5"});
  expect_error([&] { cross_entropy(logits, zeros({2})); }, {"cross_entropy", "i32 or i64", "f32"});
  expect_error(
      [&] {
        cross_entropy(logits, zeros({2, 5}, DType::i64));
      },
      {"cross_entropy", "[2, 5]", "[2]"});
  expect_error(
      [&] { cross_entropy(logits, zeros({2}, DType::i64), options(Reduction::mean, 1.5)); },
      {"cross_entropy", "label_smoothing", "1.5"});
  expect_error(
      [&] {
        cross_entropy(zeros({2, 5}, DType::i64), zeros({2}, DType::i64));
      },
      {"cross_entropy", "floating", "i64"});
  expect_error(
      [&] {
        cross_entropy(zeros({2, 0}), zeros({2}, DType::i64));
      },
      {"cross_entropy", "C >= 1"});
  expect_error(
      [&] {
        cross_entropy_reference(logits, tensor({9, 0}, {}, DType::i64));
      },
      {"cross_entropy_reference", "target 9"});
}

TEST(Loss, UnbatchedLogits) {
  // logits [C] with a 0-d target, as torch allows.
  Tensor logits = randn64({4}, 3);
  Tensor target = scalar(2, DType::i64);
  EXPECT_TRUE(all_close(
      cross_entropy(logits, target, options(Reduction::none)),
      loop_loss(logits.view({1, 4}), target.view({1}), options(Reduction::none)).view({}), 1e-12));
}

}  // namespace
}  // namespace kiln
