// Reductions, arg-reductions, top-k, prefix sums and the softmax family: values against
// plain-loop references, fused kernels against their unfused compositions, gradient checks,
// thread-count independence and extreme inputs.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::rand64;
using testing::randn64;

constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- plain-loop references ----------------------------------------------------------------

// The elements of a row-major tensor of shape s grouped by their index outside `dims`: one
// group per output element of a reduction over dims (in output order), each listing the flat
// positions of its elements in index order.
std::vector<std::vector<int64_t>> groups_of(const Shape& s, std::vector<int64_t> dims) {
  const int64_t nd = int64_t(s.size());
  if (dims.empty())
    for (int64_t d = 0; d < nd; ++d) dims.push_back(d);
  for (int64_t& d : dims) d = d < 0 ? d + nd : d;
  Shape keep = s;
  for (int64_t d : dims) keep[size_t(d)] = 1;
  std::vector<std::vector<int64_t>> out(size_t(shape_numel(keep)));
  const int64_t n = shape_numel(s);
  for (int64_t flat = 0; flat < n; ++flat) {
    int64_t rem = flat, o = 0, mul = 1;
    for (int64_t d = nd - 1; d >= 0; --d) {
      int64_t i = rem % s[size_t(d)];
      rem /= s[size_t(d)];
      o += (keep[size_t(d)] == 1 ? 0 : i) * mul;
      mul *= keep[size_t(d)];
    }
    out[size_t(o)].push_back(flat);
  }
  return out;
}

using GroupFn = std::function<double(const std::vector<double>&)>;

// out[g] = fn(elements of group g), as f64 values.
std::vector<double> ref_reduce(const Tensor& x, const std::vector<int64_t>& dims,
                               const GroupFn& fn) {
  std::vector<double> v = x.to_vector<double>(), out;
  for (const auto& g : groups_of(x.shape(), dims)) {
    std::vector<double> e;
    for (int64_t i : g) e.push_back(v[size_t(i)]);
    out.push_back(fn(e));
  }
  return out;
}

// Applies fn to every line along dim (a vector -> vector map), writing the results in place.
std::vector<double> ref_lines(
    const Tensor& x, int64_t dim,
    const std::function<std::vector<double>(const std::vector<double>&)>& fn) {
  std::vector<double> v = x.to_vector<double>(), out(v.size());
  for (const auto& g : groups_of(x.shape(), {dim})) {
    std::vector<double> e;
    for (int64_t i : g) e.push_back(v[size_t(i)]);
    std::vector<double> r = fn(e);
    for (size_t j = 0; j < g.size(); ++j) out[size_t(g[j])] = r[j];
  }
  return out;
}

double ref_sum(const std::vector<double>& e) {
  return std::accumulate(e.begin(), e.end(), 0.0);
}
double ref_max(const std::vector<double>& e) {
  return *std::max_element(e.begin(), e.end());
}
double ref_min(const std::vector<double>& e) {
  return *std::min_element(e.begin(), e.end());
}
double ref_lse(const std::vector<double>& e) {
  double m = ref_max(e), s = 0;
  for (double x : e) s += std::exp(x - m);
  return m + std::log(s);
}
std::vector<double> ref_softmax(const std::vector<double>& e) {
  double m = ref_max(e), s = 0;
  std::vector<double> r;
  for (double x : e) s += std::exp(x - m);
  for (double x : e) r.push_back(std::exp(x - m) / s);
  return r;
}
std::vector<double> ref_log_softmax(const std::vector<double>& e) {
  double l = ref_lse(e);
  std::vector<double> r;
  for (double x : e) r.push_back(x - l);
  return r;
}

Tensor f64(const std::vector<double>& v, const Shape& s) {
  return from_vector(v, s);
}

// The dim lists the reduction tests sweep: first, middle, last, several, all.
const std::vector<std::vector<int64_t>> kDimSets = {{0}, {1}, {-1}, {0, 2}, {1, 2}, {}};

// ---- forward values ---------------------------------------------------------------------------

TEST(Reduce, ValuesMatchLoopReference) {
  Tensor x = randn64({3, 4, 5}, 7);
  for (const auto& dims : kDimSets)
    for (bool keep : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "dims " << Shape(dims) << " keepdim " << keep);
      Shape rs = reduced_shape(x.shape(), reduction_dims(dims, 3, "test"), keep);
      auto count = [](const std::vector<double>& e) { return double(e.size()); };
      auto mean_of = [&](const std::vector<double>& e) { return ref_sum(e) / count(e); };
      auto var_of = [&](const std::vector<double>& e, int c) {
        double m = mean_of(e), s = 0;
        for (double v : e) s += (v - m) * (v - m);
        return s / (count(e) - c);
      };
      EXPECT_ALL_CLOSE(sum(x, dims, keep), f64(ref_reduce(x, dims, ref_sum), rs), 1e-12);
      EXPECT_ALL_CLOSE(mean(x, dims, keep), f64(ref_reduce(x, dims, mean_of), rs), 1e-12);
      EXPECT_ALL_CLOSE(max(x, dims, keep), f64(ref_reduce(x, dims, ref_max), rs), 0, 0);
      EXPECT_ALL_CLOSE(min(x, dims, keep), f64(ref_reduce(x, dims, ref_min), rs), 0, 0);
      EXPECT_ALL_CLOSE(logsumexp(x, dims, keep), f64(ref_reduce(x, dims, ref_lse), rs), 1e-12);
      for (int c : {0, 1})
        EXPECT_ALL_CLOSE(
            var(x, dims, c, keep),
            f64(ref_reduce(x, dims, [&](const std::vector<double>& e) { return var_of(e, c); }),
                rs),
            1e-12);
    }
}

TEST(Reduce, ValuesInLowPrecisionMatchReference) {
  Tensor x = randn64({6, 50}, 8);
  for (DType dt : {DType::f32, DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor xl = x.to(dt);
    Tensor xr = xl.to(DType::f64);  // the rounded inputs, reduced exactly
    double tol = dt == DType::f32 ? 1e-5 : 2e-2;
    EXPECT_ALL_CLOSE(sum(xl, {1}).to(DType::f64), sum(xr, {1}), tol, tol);
    EXPECT_ALL_CLOSE(max(xl, {1}).to(DType::f64), max(xr, {1}), 0, 0);
    EXPECT_ALL_CLOSE(min(xl, {0}).to(DType::f64), min(xr, {0}), 0, 0);
    EXPECT_ALL_CLOSE(var(xl, {1}).to(DType::f64), var(xr, {1}), tol, tol);
    EXPECT_ALL_CLOSE(logsumexp(xl, {1}).to(DType::f64), logsumexp(xr, {1}), tol, tol);
    EXPECT_ALL_CLOSE(logsumexp(xl, {0}).to(DType::f64), logsumexp(xr, {0}), tol, tol);
  }
}

TEST(Reduce, IntegerSumIsI64AndMaxKeepsDtype) {
  Tensor x = from_vector<int32_t>({1, -5, 7, 2, 9, -3}, {2, 3});
  Tensor s = sum(x, {1});
  EXPECT_EQ(s.dtype(), DType::i64);
  EXPECT_EQ(s.to_vector<int64_t>(), (std::vector<int64_t>{3, 8}));
  Tensor m = max(x, {0});
  EXPECT_EQ(m.dtype(), DType::i32);
  EXPECT_EQ(m.to_vector<int32_t>(), (std::vector<int32_t>{2, 9, 7}));
  EXPECT_EQ(min(x).item(), -5.0);
}

TEST(Reduce, VarianceOfKnownValues) {
  Tensor x = tensor({2, 4, 4, 4, 5, 5, 7, 9}, {}, DType::f64);  // mean 5, squared deviations 32
  EXPECT_DOUBLE_EQ(var(x, {}, 0).item(), 4.0);
  EXPECT_DOUBLE_EQ(var(x, {}, 1).item(), 32.0 / 7.0);
  // Far from zero the two-pass form keeps the digits a one-pass E[x^2] - E[x]^2 loses.
  EXPECT_NEAR(var(add(x, 1e8), {}, 0).item(), 4.0, 1e-6);
}

TEST(Reduce, MaxAndMinOverEmptyDimThrow) {
  Tensor x = zeros({3, 0});
  try {
    max(x, {1});
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("max"), std::string::npos) << m;
    EXPECT_NE(m.find("[3, 0]"), std::string::npos) << m;
  }
  EXPECT_THROW(min(x), Error);
  EXPECT_THROW(argmax(x, 1), Error);
  EXPECT_EQ(max(x, {0}).shape(), Shape({0}));  // reducing a nonempty dim of an empty tensor is fine
  EXPECT_EQ(sum(x, {1}).to_vector<double>(), (std::vector<double>{0, 0, 0}));
}

TEST(Reduce, RepeatedOrOutOfRangeDimsThrow) {
  Tensor x = zeros({2, 3});
  EXPECT_THROW(sum(x, {1, -1}), Error);
  EXPECT_THROW(max(x, {2}), Error);
  EXPECT_THROW(logsumexp(x, {0, 0}), Error);
  EXPECT_THROW(softmax(x, 2), Error);
}

// ---- gradients ------------------------------------------------------------------------------

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

TEST(Reduce, GradcheckSumMeanMaxMinVarLogsumexp) {
  Tensor x = randn64({3, 4, 5}, 11).requires_grad_();
  for (const auto& dims : kDimSets)
    for (bool keep : {false, true}) {
      SCOPED_TRACE(::testing::Message() << "dims " << Shape(dims) << " keepdim " << keep);
      std::vector<std::pair<const char*, Fn>> fns = {
          {"sum", [&](const std::vector<Tensor>& in) { return sum(in[0], dims, keep); }},
          {"mean", [&](const std::vector<Tensor>& in) { return mean(in[0], dims, keep); }},
          {"max", [&](const std::vector<Tensor>& in) { return max(in[0], dims, keep); }},
          {"min", [&](const std::vector<Tensor>& in) { return min(in[0], dims, keep); }},
          {"var0", [&](const std::vector<Tensor>& in) { return var(in[0], dims, 0, keep); }},
          {"var1", [&](const std::vector<Tensor>& in) { return var(in[0], dims, 1, keep); }},
          {"logsumexp",
           [&](const std::vector<Tensor>& in) { return logsumexp(in[0], dims, keep); }},
      };
      for (auto& [name, fn] : fns) {
        SCOPED_TRACE(name);
        EXPECT_GRADCHECK(fn, {x});
      }
    }
}

TEST(Reduce, MaxGradientIsSharedAtTies) {
  // Row 0 has its max 3 twice, row 1 three times: each tied element gets 1/count of g.
  Tensor x = tensor({3, 1, 3, 2, 2, 2}, {2, 3}, DType::f64).requires_grad_();
  Tensor m = max(x, {1});
  m.backward(tensor({6, 9}, {}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3, 0, 3, 3, 3, 3}));
  x.set_grad(Tensor());
  min(x).backward();  // the minimum 1 is unique
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{0, 1, 0, 0, 0, 0}));
}

TEST(Softmax, Gradcheck) {
  Tensor x = randn64({3, 4, 5}, 12).requires_grad_();
  for (int64_t dim : {0, 1, 2, -1}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim);
    EXPECT_GRADCHECK([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x});
    EXPECT_GRADCHECK([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {x});
  }
  // A non-contiguous input and a line longer than the kernels' lane count.
  Tensor y = randn64({40, 3}, 13).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return softmax(in[0].transpose(0, 1), -1); },
                   {y});
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) { return log_softmax(in[0].transpose(0, 1), 1); }, {y});
}

TEST(Softmax, ValuesMatchLoopReference) {
  Tensor x = mul(randn64({4, 3, 37}, 14), 3.0);
  for (int64_t dim : {0, 1, 2}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim);
    EXPECT_ALL_CLOSE(softmax(x, dim), f64(ref_lines(x, dim, ref_softmax), x.shape()), 1e-15, 1e-13);
    EXPECT_ALL_CLOSE(log_softmax(x, dim), f64(ref_lines(x, dim, ref_log_softmax), x.shape()), 1e-13,
                     1e-13);
  }
  EXPECT_EQ(softmax(scalar(2.5, DType::f64), 0).item(), 1.0);
  EXPECT_EQ(log_softmax(scalar(2.5, DType::f64), -1).item(), 0.0);
}

// The unfused compositions the fused kernels stand in for.
Tensor softmax_unfused(const Tensor& x, int64_t dim) {
  Tensor e = exp(sub(x, max(x, {dim}, true)));
  return div(e, sum(e, {dim}, true));
}
Tensor log_softmax_unfused(const Tensor& x, int64_t dim) {
  Tensor z = sub(x, max(x, {dim}, true));
  return sub(z, log(sum(exp(z), {dim}, true)));
}

TEST(Softmax, FusedMatchesUnfusedForwardAndBackward) {
  // [5, 300, 7]: the last dim (fast path) and a strided dim wider than a block of lines.
  Tensor x0 = mul(randn64({5, 70, 130}, 15), 4.0);
  Tensor g0 = randn64({5, 70, 130}, 16);
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::f16})
    for (int64_t dim : {2, 1, 0})
      for (bool log : {false, true}) {
        SCOPED_TRACE(::testing::Message()
                     << dtype_name(dt) << " dim " << dim << (log ? " log_softmax" : " softmax"));
        // The unfused reference runs in f64 on the same (rounded) inputs.
        Tensor x = x0.to(dt).detach().requires_grad_();  // a fresh leaf even when dt is f64
        Tensor xr = x.detach().to(DType::f64).requires_grad_();
        Tensor y = log ? log_softmax(x, dim) : softmax(x, dim);
        Tensor yr = log ? log_softmax_unfused(xr, dim) : softmax_unfused(xr, dim);
        y.backward(g0.to(dt));
        yr.backward(g0.to(dt).to(DType::f64));
        double tol = dt == DType::f64    ? 1e-12
                     : dt == DType::f32  ? 2e-6
                     : dt == DType::bf16 ? 1e-2
                                         : 2e-3;
        // Log-probabilities reach |y| ~ 40 here; grads reach ~3.
        double ytol = log ? tol * 40 : tol;
        EXPECT_ALL_CLOSE(y.to(DType::f64), yr, ytol, tol);
        EXPECT_ALL_CLOSE(x.grad().to(DType::f64), xr.grad(), 4 * tol, tol);
      }
}

TEST(Softmax, NonContiguousInputMatchesContiguous) {
  Tensor x = randn64({6, 8, 10}, 17).to(DType::f32);
  Tensor t = x.permute({2, 0, 1});  // [10, 6, 8], strided
  for (int64_t dim : {0, 1, 2}) {
    EXPECT_ALL_CLOSE(softmax(t, dim), softmax(t.contiguous(), dim), 0, 0);
    EXPECT_ALL_CLOSE(log_softmax(t, dim), log_softmax(t.contiguous(), dim), 0, 0);
  }
}

TEST(Softmax, LargeMagnitudesDoNotOverflow) {
  // exp(1000) overflows f64 and exp(100) overflows f32: the max shift must keep all finite.
  Tensor x = tensor({1000, 1001, 1002, -1000, -1001, -1003}, {2, 3}, DType::f64);
  double l0 = 1002 + std::log(std::exp(-2.0) + std::exp(-1.0) + 1.0);
  double l1 = -1000 + std::log(1.0 + std::exp(-1.0) + std::exp(-3.0));
  for (DType dt : {DType::f64, DType::f32}) {
    SCOPED_TRACE(dtype_name(dt));
    Tensor xd = x.to(dt);
    double tol = dt == DType::f64 ? 1e-12 : 1e-4;
    EXPECT_ALL_CLOSE(logsumexp(xd, {1}).to(DType::f64), tensor({l0, l1}, {}, DType::f64), 0, tol);
    Tensor expected = tensor({std::exp(1000 - l0), std::exp(1001 - l0), std::exp(1002 - l0),
                              std::exp(-1000 - l1), std::exp(-1001 - l1), std::exp(-1003 - l1)},
                             {2, 3}, DType::f64);
    EXPECT_ALL_CLOSE(softmax(xd, 1).to(DType::f64), expected, 1e-6, tol);
    EXPECT_ALL_CLOSE(log_softmax(xd, 1).to(DType::f64), log(expected), 1e-4, tol);
    // Along the strided path too.
    EXPECT_ALL_CLOSE(softmax(xd.transpose(0, 1), 0).to(DType::f64), expected.transpose(0, 1), 1e-6,
                     tol);
    EXPECT_ALL_CLOSE(logsumexp(xd.transpose(0, 1), {0}).to(DType::f64),
                     tensor({l0, l1}, {}, DType::f64), 0, tol);
  }
  Tensor big = tensor({3e38, 3e38}, {}, DType::f32);  // the sum of exps would overflow unshifted
  EXPECT_NEAR(logsumexp(big, {0}).item(), 3e38, 1e32);
}

TEST(Softmax, InfinitiesAndMasking) {
  // -inf entries (masked positions) get exactly zero probability; an all -inf line has
  // logsumexp -inf, and a line holding +inf has logsumexp +inf.
  Tensor x = tensor({0.5, -kInf, 1.5, -kInf, -kInf, -kInf, 1.0, kInf, 2.0}, {3, 3}, DType::f32);
  std::vector<double> p = softmax(x.narrow(0, 0, 1), 1).to_vector<double>();
  EXPECT_EQ(p[1], 0.0);
  EXPECT_NEAR(p[0], 1 / (1 + std::exp(1.0)), 1e-6);
  std::vector<double> l = logsumexp(x, {1}).to_vector<double>();
  EXPECT_NEAR(l[0], 1.5 + std::log1p(std::exp(-1.0)), 1e-6);
  EXPECT_EQ(l[1], -kInf);
  EXPECT_EQ(l[2], kInf);
  EXPECT_EQ(log_softmax(x.narrow(0, 0, 1), 1).to_vector<double>()[1], -kInf);
  // NaN propagates through the line it is in, and only that line.
  Tensor y = tensor({1, NAN, 2, 3}, {2, 2}, DType::f32);
  std::vector<double> s = softmax(y, 1).to_vector<double>();
  EXPECT_TRUE(std::isnan(s[0]) && std::isnan(s[1]));
  EXPECT_FALSE(std::isnan(s[2]) || std::isnan(s[3]));
  EXPECT_TRUE(std::isnan(logsumexp(y, {1}).to_vector<double>()[0]));
}

TEST(Softmax, IntegerInputThrows) {
  try {
    softmax(arange(4), 0);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("softmax"), std::string::npos) << m;
    EXPECT_NE(m.find("i64"), std::string::npos) << m;
  }
  EXPECT_THROW(logsumexp(arange(4), {0}), Error);
}

// ---- arg-reductions, top-k, prefix sums -----------------------------------------------------

TEST(ArgReduce, FirstIndexAtTiesAndKeepdim) {
  Tensor x = tensor({1, 5, 5, 0, 0, 2, 3, -1, 3, 2, 7, 7}, {2, 2, 3}, DType::f32);
  // Lines along dim 2: [1 5 5] [0 0 2] [3 -1 3] [2 7 7].
  EXPECT_EQ(argmax(x, 2).to_vector<int64_t>(), (std::vector<int64_t>{1, 2, 0, 1}));
  EXPECT_EQ(argmin(x, 2).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 1, 0}));
  // Along dim 1: [1 0] [5 0] [5 2] [3 2] [-1 7] [3 7].
  EXPECT_EQ(argmax(x, 1).to_vector<int64_t>(), (std::vector<int64_t>{0, 0, 0, 0, 1, 1}));
  // Along dim 0: [1 3] [5 -1] [5 3] [0 2] [0 7] [2 7]; and a tie: [4 4] -> 0.
  EXPECT_EQ(argmin(x, 0).to_vector<int64_t>(), (std::vector<int64_t>{0, 1, 1, 0, 0, 0}));
  EXPECT_EQ(argmin(tensor({4, 4}, {}, DType::f32), 0).item(), 0.0);
  EXPECT_EQ(argmax(x, 1, true).shape(), Shape({2, 1, 3}));
  EXPECT_EQ(argmax(x, -1).dtype(), DType::i64);
  EXPECT_EQ(argmax(scalar(4.0), 0).item(), 0.0);
}

TEST(ArgReduce, MatchesLoopReferenceAcrossDtypes) {
  Tensor x = randn64({5, 300, 3}, 21);
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::i32}) {
    Tensor xd = dt == DType::i32 ? mul(x, 4.0).to(dt) : x.to(dt);  // many ties in i32 and bf16
    for (int64_t dim : {0, 1, 2}) {
      SCOPED_TRACE(::testing::Message() << dtype_name(dt) << " dim " << dim);
      auto first_at = [](bool is_max) {
        return [is_max](const std::vector<double>& e) {
          auto it =
              is_max ? std::max_element(e.begin(), e.end()) : std::min_element(e.begin(), e.end());
          return double(it - e.begin());  // the first extreme element
        };
      };
      Shape rs = reduced_shape(xd.shape(), {dim}, false);
      EXPECT_ALL_CLOSE(argmax(xd, dim).to(DType::f64),
                       f64(ref_reduce(xd, {dim}, first_at(true)), rs), 0, 0);
      EXPECT_ALL_CLOSE(argmin(xd, dim).to(DType::f64),
                       f64(ref_reduce(xd, {dim}, first_at(false)), rs), 0, 0);
    }
  }
}

TEST(ArgReduce, NanWins) {
  Tensor x = tensor({1, NAN, 3, NAN}, {}, DType::f32);
  EXPECT_EQ(argmax(x, 0).item(), 1.0);
  EXPECT_EQ(argmin(x, 0).item(), 1.0);
}

TEST(Topk, MatchesSortReference) {
  Tensor x = randn64({4, 30, 6}, 22);
  for (int64_t dim : {1, 0, -1})
    for (bool largest : {true, false})
      for (int64_t k : {int64_t(0), int64_t(1), int64_t(3)}) {
        SCOPED_TRACE(::testing::Message() << "dim " << dim << " largest " << largest << " k " << k);
        auto [v, i] = topk(x, k, dim, largest);
        Shape rs = x.shape();
        rs[size_t(dim < 0 ? dim + 3 : dim)] = k;
        EXPECT_EQ(v.shape(), rs);
        EXPECT_EQ(i.dtype(), DType::i64);
        // Reference: sort each line's (value, index) pairs.
        std::vector<double> xv = x.to_vector<double>(), ev(size_t(shape_numel(rs))), ei(ev.size());
        auto out_groups = groups_of(rs, {dim});
        auto in_groups = groups_of(x.shape(), {dim});
        for (size_t g = 0; g < in_groups.size(); ++g) {
          std::vector<int64_t> order(in_groups[g].size());
          std::iota(order.begin(), order.end(), 0);
          std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) {
            double va = xv[size_t(in_groups[g][size_t(a)])],
                   vb = xv[size_t(in_groups[g][size_t(b)])];
            return largest ? va > vb : va < vb;
          });
          for (int64_t j = 0; j < k; ++j) {
            ev[size_t(out_groups[g][size_t(j)])] =
                xv[size_t(in_groups[g][size_t(order[size_t(j)])])];
            ei[size_t(out_groups[g][size_t(j)])] = double(order[size_t(j)]);
          }
        }
        EXPECT_ALL_CLOSE(v, f64(ev, rs), 0, 0);
        EXPECT_ALL_CLOSE(i.to(DType::f64), f64(ei, rs), 0, 0);
      }
}

TEST(Topk, UnsortedKeepsIndexOrderAndTiesGoToLowerIndex) {
  Tensor x = tensor({4, 9, 1, 9, 7, 2}, {}, DType::f32);
  auto [v, i] = topk(x, 3, 0, true, /*sorted=*/false);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 4}));
  EXPECT_EQ(v.to_vector<double>(), (std::vector<double>{9, 9, 7}));
  auto [vs, is] = topk(x, 2);
  EXPECT_EQ(is.to_vector<int64_t>(), (std::vector<int64_t>{1, 3}));
  auto [vm, im] = topk(from_vector<int64_t>({5, -2, 8, -2}, {4}), 2, 0, /*largest=*/false);
  EXPECT_EQ(vm.to_vector<int64_t>(), (std::vector<int64_t>{-2, -2}));
  EXPECT_EQ(im.to_vector<int64_t>(), (std::vector<int64_t>{1, 3}));
}

TEST(Topk, BadKThrowsAndGradientScatters) {
  Tensor x = randn64({3, 5}, 23);
  try {
    topk(x, 6, 1);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("topk"), std::string::npos) << m;
    EXPECT_NE(m.find("6"), std::string::npos) << m;
  }
  EXPECT_THROW(topk(x, -1, 1), Error);
  Tensor xg = x.clone().requires_grad_();
  for (int64_t dim : {0, 1})
    for (bool sorted : {true, false})
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& in) { return topk(in[0], 2, dim, true, sorted).first; },
          {xg});
}

TEST(Cumsum, ValuesGradientAndIntegers) {
  Tensor x = randn64({3, 4, 70}, 24);
  for (int64_t dim : {0, 1, 2}) {
    SCOPED_TRACE(::testing::Message() << "dim " << dim);
    auto prefix = [](const std::vector<double>& e) {
      std::vector<double> r(e.size());
      std::partial_sum(e.begin(), e.end(), r.begin());
      return r;
    };
    EXPECT_ALL_CLOSE(cumsum(x, dim), f64(ref_lines(x, dim, prefix), x.shape()), 1e-12);
    Tensor xg = randn64({3, 4, 5}, 25).requires_grad_();
    EXPECT_GRADCHECK([dim](const std::vector<Tensor>& in) { return cumsum(in[0], dim); }, {xg});
  }
  Tensor c = cumsum(from_vector<int32_t>({1, 2, 3, 4, 5, 6}, {2, 3}), 1);
  EXPECT_EQ(c.dtype(), DType::i64);
  EXPECT_EQ(c.to_vector<int64_t>(), (std::vector<int64_t>{1, 3, 6, 4, 9, 15}));
  EXPECT_EQ(cumsum(from_vector<bool>({true, false, true}, {3}), 0).to_vector<int64_t>(),
            (std::vector<int64_t>{1, 1, 2}));
  EXPECT_ALL_CLOSE(cumsum(x.to(DType::bf16), 2).to(DType::f64),
                   cumsum(x.to(DType::bf16).to(DType::f64), 2), 0.1, 2e-2);
}

TEST(Reduce, EmptyTensors) {
  // Size-0 dims anywhere: no division by zero in the kernels' work splitting, sane shapes.
  for (const Shape& s : {Shape{2, 0}, Shape{0, 3}, Shape{2, 0, 3}, Shape{2, 3, 0}}) {
    SCOPED_TRACE(::testing::Message() << "shape " << s);
    Tensor x = zeros(s);
    EXPECT_EQ(softmax(x, 1).shape(), s);
    EXPECT_EQ(log_softmax(x, 0).shape(), s);
    EXPECT_EQ(cumsum(x, 1).shape(), s);
    EXPECT_EQ(logsumexp(x, {1}).shape(), reduced_shape(s, {1}, false));
    EXPECT_EQ(var(x, {0}, 0, true).shape(), reduced_shape(s, {0}, true));
  }
  EXPECT_EQ(logsumexp(zeros({2, 0}), {1}).to_vector<double>(), (std::vector<double>{-kInf, -kInf}));
  EXPECT_EQ(argmax(zeros({0, 3}), 1).shape(), Shape({0}));
  EXPECT_EQ(topk(zeros({0, 3}), 2, 1).first.shape(), Shape({0, 2}));
  EXPECT_EQ(topk(zeros({3, 4}), 0, 1).second.shape(), Shape({3, 0}));
}

TEST(Topk, NanRanksFirst) {
  Tensor x = tensor({1, NAN, 3, 2}, {}, DType::f32);
  auto [v, i] = topk(x, 2);
  EXPECT_EQ(i.to_vector<int64_t>(), (std::vector<int64_t>{1, 2}));
  auto [vs, is] = topk(x, 2, 0, /*largest=*/false);
  EXPECT_EQ(is.to_vector<int64_t>(), (std::vector<int64_t>{0, 3}));
}

// ---- determinism ------------------------------------------------------------------------------

std::vector<uint32_t> bits_of(const Tensor& t) {
  std::vector<float> v = t.to_vector<float>();
  std::vector<uint32_t> b(v.size());
  for (size_t i = 0; i < v.size(); ++i) b[i] = float_bits(v[i]);
  return b;
}

TEST(Reduce, SumIsBitwiseIndependentOfThreadCount) {
  Generator gen(31);
  Tensor big = randn({1000000}, DType::f32, &gen);
  Tensor cols = randn({4096, 300}, DType::f32, &gen);
  Tensor rows = randn({3, 100000}, DType::f32, &gen);
  std::vector<std::vector<uint32_t>> results[4];
  for (int threads : {1, 2, 3}) {
    ThreadCountGuard guard(threads);
    results[threads] = {
        bits_of(sum(big)),         bits_of(sum(cols, {0})),       bits_of(sum(rows, {1})),
        bits_of(softmax(rows, 1)), bits_of(logsumexp(cols, {0})), bits_of(mean(big))};
  }
  for (int threads : {2, 3})
    for (size_t k = 0; k < results[1].size(); ++k) {
      SCOPED_TRACE(::testing::Message() << threads << " threads, result " << k);
      EXPECT_TRUE(results[threads][k] == results[1][k]);
    }
  // And the sum is right: compared with an f64 sum of the same values.
  EXPECT_NEAR(sum(big).item(), sum(big.to(DType::f64)).item(), 1e-2);
}

}  // namespace
}  // namespace kiln
