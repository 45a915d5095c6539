// Norm family: fused layer_norm / rms_norm against plain loops and against their compositions
// from ops (values and gradients), finite-difference gradients for every option, half
// precision within tolerance, parameter gradients bitwise stable across thread counts, errors.
#include <gtest/gtest.h>

#include <cmath>
#include <optional>
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

// Plain-loop layer norm / RMS norm over the last dim, in f64.
Tensor norm_loop(const Tensor& x, const Tensor& w, const Tensor& b, double eps, bool rms) {
  const int64_t C = x.size(-1), N = x.numel() / C;
  std::vector<double> xv = x.to_vector<double>(), out(xv.size());
  std::vector<double> wv =
      w.defined() ? w.to_vector<double>() : std::vector<double>(size_t(C), 1.0);
  std::vector<double> bv =
      b.defined() ? b.to_vector<double>() : std::vector<double>(size_t(C), 0.0);
  for (int64_t n = 0; n < N; ++n) {
    const double* r = xv.data() + n * C;
    double mean = 0, var = 0;
    if (!rms) {
      for (int64_t i = 0; i < C; ++i) mean += r[i];
      mean /= double(C);
    }
    for (int64_t i = 0; i < C; ++i) var += (r[i] - mean) * (r[i] - mean);
    var /= double(C);
    for (int64_t i = 0; i < C; ++i)
      out[size_t(n * C + i)] = (r[i] - mean) / std::sqrt(var + eps) * wv[size_t(i)] + bv[size_t(i)];
  }
  return from_vector(out, x.shape());
}

TEST(Norm, LayerNormAndRmsNormMatchPlainLoops) {
  Tensor x = randn64({3, 2, 7}, 1), w = randn64({7}, 2), b = randn64({7}, 3);
  EXPECT_ALL_CLOSE(layer_norm(x, w, b, 1e-5), norm_loop(x, w, b, 1e-5, false), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(layer_norm(x, Tensor(), Tensor(), 0.1),
                   norm_loop(x, Tensor(), Tensor(), 0.1, false), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(rms_norm(x, w, 1e-6), norm_loop(x, w, Tensor(), 1e-6, true), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(rms_norm(x, Tensor(), 0.5), norm_loop(x, Tensor(), Tensor(), 0.5, true), 1e-12,
                   1e-12);
  // f32 and a strided input.
  Tensor xt = x.transpose(0, 1);
  EXPECT_ALL_CLOSE(layer_norm(xt.to(DType::f32), w.to(DType::f32), b.to(DType::f32)),
                   norm_loop(xt.contiguous(), w, b, 1e-5, false), 1e-5, 1e-5);
  // By hand: [1, 3] has mean 2, variance 1, so it normalises to [-1, 1] (eps 0).
  EXPECT_EQ(
      layer_norm(tensor({1.0, 3.0}, {}, DType::f64), Tensor(), Tensor(), 0.0).to_vector<double>(),
      (std::vector<double>{-1.0, 1.0}));
  // And [3, 4] has mean square 12.5: rms_norm gives [3, 4] / sqrt(12.5).
  std::vector<double> r =
      rms_norm(tensor({3.0, 4.0}, {}, DType::f64), Tensor(), 0.0).to_vector<double>();
  EXPECT_NEAR(r[0], 3 / std::sqrt(12.5), 1e-15);
  EXPECT_NEAR(r[1], 4 / std::sqrt(12.5), 1e-15);
}

TEST(Norm, LayerNormGradcheckWithAndWithoutParameters) {
  for (bool with_w : {false, true})
    for (bool with_b : {false, true}) {
      Tensor x = randn64({2, 3, 5}, 1).requires_grad_();
      Tensor w = with_w ? randn64({5}, 2).requires_grad_() : Tensor();
      Tensor b = with_b ? randn64({5}, 3).requires_grad_() : Tensor();
      auto f = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2], 1e-3); };
      EXPECT_GRADCHECK(f, {x, w, b}) << "weight " << with_w << " bias " << with_b;
    }
  // Only the parameters require grad.
  Tensor x = randn64({4, 5}, 4);
  Tensor w = randn64({5}, 5).requires_grad_(), b = randn64({5}, 6).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) { return layer_norm(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK(f, {x, w, b});
}

TEST(Norm, RmsNormGradcheckWithAndWithoutWeight) {
  for (bool with_w : {false, true}) {
    Tensor x = randn64({3, 6}, 1).requires_grad_();
    Tensor w = with_w ? randn64({6}, 2).requires_grad_() : Tensor();
    auto f = [](const std::vector<Tensor>& in) { return rms_norm(in[0], in[1], 1e-4); };
    EXPECT_GRADCHECK(f, {x, w}) << "weight " << with_w;
  }
}

// Value and gradients (x, weight, bias) of f under a fixed random output gradient, rounded to
// g_dtype first (so that a half run and its f32 reference see the same gradient).
std::vector<Tensor> value_and_grads(
    const std::function<Tensor(const Tensor&, const Tensor&, const Tensor&)>& f, const Tensor& x0,
    const Tensor& w0, const Tensor& b0, std::optional<DType> g_dtype = std::nullopt) {
  auto leaf = [](const Tensor& t) { return t.defined() ? t.clone().requires_grad_() : Tensor(); };
  Tensor x = leaf(x0), w = leaf(w0), b = leaf(b0);
  Tensor y = f(x, w, b);
  y.backward(randn64(y.shape(), 99).to(g_dtype.value_or(y.dtype())).to(y.dtype()));
  return {y, x.grad(), w.defined() ? w.grad() : Tensor(), b.defined() ? b.grad() : Tensor()};
}

TEST(Norm, FusedMatchesReferenceInF64AndF32) {
  for (DType dt : {DType::f64, DType::f32}) {
    const double tol = dt == DType::f64 ? 1e-12 : 2e-5;
    Tensor x = randn64({5, 3, 33}, 1).to(dt), w = randn64({33}, 2).to(dt),
           b = randn64({33}, 3).to(dt);
    auto fused =
        value_and_grads([](auto& a, auto& c, auto& d) { return layer_norm(a, c, d); }, x, w, b);
    auto ref = value_and_grads(
        [](auto& a, auto& c, auto& d) { return layer_norm_reference(a, c, d); }, x, w, b);
    for (size_t i = 0; i < 4; ++i)
      EXPECT_TRUE(all_close(fused[i], ref[i], tol, tol)) << dtype_name(dt) << " " << i;
    auto rf =
        value_and_grads([](auto& a, auto& c, auto&) { return rms_norm(a, c); }, x, w, Tensor());
    auto rr = value_and_grads([](auto& a, auto& c, auto&) { return rms_norm_reference(a, c); }, x,
                              w, Tensor());
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(all_close(rf[i], rr[i], tol, tol)) << dtype_name(dt) << " rms " << i;
  }
}

TEST(Norm, HalfPrecisionWithinToleranceOfF32Reference) {
  // The fused kernels compute in f32 and round once; compare with the f32 reference on the same
  // (already rounded) inputs, to a few bf16/f16 ulps.
  for (DType dt : {DType::bf16, DType::f16}) {
    const double tol = dt == DType::bf16 ? 3e-2 : 4e-3;
    Tensor x = randn64({6, 64}, 1).to(dt), w = randn64({64}, 2).to(dt), b = randn64({64}, 3).to(dt);
    auto f32 = [](const Tensor& t) { return t.to(DType::f32); };
    Tensor y = layer_norm(x, w, b);
    EXPECT_EQ(y.dtype(), dt);
    EXPECT_TRUE(all_close(y, layer_norm_reference(f32(x), f32(w), f32(b)), tol, tol))
        << dtype_name(dt);
    EXPECT_TRUE(all_close(rms_norm(x, w), rms_norm_reference(f32(x), f32(w)), tol, tol))
        << dtype_name(dt);
    auto fused =
        value_and_grads([](auto& a, auto& c, auto& d) { return layer_norm(a, c, d); }, x, w, b, dt);
    auto ref =
        value_and_grads([](auto& a, auto& c, auto& d) { return layer_norm_reference(a, c, d); },
                        f32(x), f32(w), f32(b), dt);
    // dweight and dbias sum 6 rows: allow for the rounding of the incoming gradient too.
    EXPECT_TRUE(all_close(fused[1], ref[1], 5 * tol, 5 * tol)) << dtype_name(dt) << " dx";
    EXPECT_TRUE(all_close(fused[2], ref[2], 5 * tol, 5 * tol)) << dtype_name(dt) << " dweight";
    EXPECT_TRUE(all_close(fused[3], ref[3], 5 * tol, 5 * tol)) << dtype_name(dt) << " dbias";
  }
}

TEST(Norm, ParameterGradientsAreBitwiseStableAcrossThreads) {
  // Enough rows for many chunks and a threaded run.
  Generator gen(17);
  Tensor x = randn({3000, 96}, DType::f32, &gen), w = randn({96}, DType::f32, &gen),
         b = randn({96}, DType::f32, &gen);
  std::vector<Tensor> ln1, rms1;
  for (int t : {1, 2, 3}) {
    ThreadCountGuard guard(t);
    auto ln =
        value_and_grads([](auto& a, auto& c, auto& d) { return layer_norm(a, c, d); }, x, w, b);
    auto rms =
        value_and_grads([](auto& a, auto& c, auto&) { return rms_norm(a, c); }, x, w, Tensor());
    if (t == 1) {
      ln1 = ln;
      rms1 = rms;
      continue;
    }
    for (size_t i = 0; i < 4; ++i)
      EXPECT_TRUE(all_close(ln[i], ln1[i], 0, 0)) << t << " threads, output " << i;
    for (size_t i = 0; i < 3; ++i)
      EXPECT_TRUE(all_close(rms[i], rms1[i], 0, 0)) << t << " threads, rms " << i;
  }
}

TEST(Norm, BadInputsAreRefused) {
  Tensor x = zeros({2, 4});
  expect_error([&] { layer_norm(x, zeros({3}), Tensor()); },
               {"layer_norm", "weight", "[4]", "[3]"});
  expect_error([&] { layer_norm(x, Tensor(), zeros({4, 1})); }, {"layer_norm", "bias", "[4, 1]"});
  expect_error([&] { layer_norm(x, zeros({4}, DType::f64), Tensor()); },
               {"layer_norm", "f64", "f32"});
  expect_error(
      [&] {
        rms_norm(zeros({2, 4}, DType::i64), Tensor());
      },
      {"rms_norm", "floating", "i64"});
  expect_error([&] { rms_norm(x, Tensor(), -1.0); }, {"rms_norm", "eps", "-1"});
  expect_error(
      [&] {
        layer_norm(zeros({2, 0}), Tensor(), Tensor());
      },
      {"layer_norm", "last dim", "[2, 0]"});
  expect_error([&] { layer_norm(scalar(1.0), Tensor(), Tensor()); }, {"layer_norm", "last dim"});
}

TEST(Norm, EmptyBatchGivesZeroParameterGradients) {
  Tensor x = zeros({0, 3}, DType::f64).requires_grad_();
  Tensor w = ones({3}, DType::f64).requires_grad_(), b = zeros({3}, DType::f64).requires_grad_();
  Tensor y = layer_norm(x, w, b);
  EXPECT_EQ(y.shape(), Shape({0, 3}));
  y.backward(zeros({0, 3}, DType::f64));
  EXPECT_EQ(w.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
  EXPECT_EQ(b.grad().to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

}  // namespace
}  // namespace kiln
