// Matrix products: results against a plain-loop f64 reference (shapes, transposes, strided
// and broadcast operands, 1-d operands, every dtype), gradient checks, error messages, and the
// oneDNN primitive cache.
#include <gtest/gtest.h>

#include <cmath>
#include <string>
#include <thread>
#include <tuple>

#include "core/ops/batch_invariant.h"
#include "kernels/cpu/gemm.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::randn64;

// ---- the reference --------------------------------------------------------------------------

// op(a) @ op(b) by plain loops in f64, with numpy's batch broadcasting and 1-d rules.
Tensor ref_matmul(const Tensor& a, const Tensor& b, bool ta = false, bool tb = false) {
  Shape as = a.shape(), bs = b.shape();
  const std::vector<double> A = a.to_vector<double>(), B = b.to_vector<double>();
  const bool a1 = as.size() == 1, b1 = bs.size() == 1;
  if (a1) as = {1, as[0]}, ta = false;
  if (b1) bs = {bs[0], 1}, tb = false;
  const int64_t ar = as[as.size() - 2], ac = as.back(), br = bs[bs.size() - 2], bc = bs.back();
  const int64_t M = ta ? ac : ar, K = ta ? ar : ac, N = tb ? br : bc;
  EXPECT_EQ(K, tb ? bc : br) << "reference called with mismatched shapes";
  const Shape ab(as.begin(), as.end() - 2), bb(bs.begin(), bs.end() - 2);
  const size_t nd = std::max(ab.size(), bb.size());
  Shape batch(nd, 1), ai(nd, 1), bi(nd, 1);
  for (size_t i = 0; i < nd; ++i) {
    ai[i] = i + ab.size() >= nd ? ab[i + ab.size() - nd] : 1;
    bi[i] = i + bb.size() >= nd ? bb[i + bb.size() - nd] : 1;
    batch[i] = std::max(ai[i], bi[i]);
  }
  const int64_t nbatch = shape_numel(batch);
  std::vector<double> C(size_t(nbatch * M * N));
  for (int64_t t = 0; t < nbatch; ++t) {
    // Unravel t over the batch shape; broadcast dims of an operand index its element 0.
    int64_t rem = t, oa = 0, ob = 0, sa = 1, sb = 1;
    for (size_t d = nd; d-- > 0;) {
      int64_t idx = rem % batch[d];
      rem /= batch[d];
      oa += (ai[d] == 1 ? 0 : idx) * sa;
      ob += (bi[d] == 1 ? 0 : idx) * sb;
      sa *= ai[d];
      sb *= bi[d];
    }
    const double* Ap = A.data() + oa * ar * ac;
    const double* Bp = B.data() + ob * br * bc;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = 0;
        for (int64_t k = 0; k < K; ++k)
          s += (ta ? Ap[k * ac + m] : Ap[m * ac + k]) * (tb ? Bp[n * bc + k] : Bp[k * bc + n]);
        C[size_t((t * M + m) * N + n)] = s;
      }
  }
  Shape out = batch;
  if (!a1) out.push_back(M);
  if (!b1) out.push_back(N);
  return from_vector(C, out);
}

Tensor randn_t(const Shape& s, DType dt, uint64_t seed) {
  return randn64(s, seed).to(dt);
}

// f32 sums of K products of unit normals: error grows like sqrt(K) ulps.
double f32_atol(int64_t K) {
  return 2e-6 * std::sqrt(double(K)) * 8;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

// ---- results --------------------------------------------------------------------------------

using Mkn = std::tuple<int64_t, int64_t, int64_t>;
const Mkn kShapes[] = {{1, 1, 1},    {1, 7, 1},       {1, 5, 9},    {9, 5, 1},
                       {3, 1, 4},    {17, 33, 5},     {64, 64, 64}, {31, 1000, 3},
                       {2, 4099, 3}, {128, 257, 129}, {100, 3, 300}};

class MatmulShapes : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulShapes, AllTransposeCombinationsMatchReference) {
  const DType dt = GetParam();
  uint64_t seed = 10;
  for (auto [M, K, N] : kShapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = randn_t(ta ? Shape{K, M} : Shape{M, K}, dt, ++seed);
        Tensor b = randn_t(tb ? Shape{N, K} : Shape{K, N}, dt, ++seed);
        Tensor c = matmul(a, b, ta, tb);
        ASSERT_EQ(c.dtype(), dt);
        ASSERT_EQ(c.shape(), (Shape{M, N}));
        const double atol = dt == DType::f64 ? 1e-12 * std::sqrt(double(K)) : f32_atol(K);
        EXPECT_ALL_CLOSE(c, ref_matmul(a, b, ta, tb), atol, 1e-5)
            << "M=" << M << " K=" << K << " N=" << N << " ta=" << ta << " tb=" << tb;
      }
}

INSTANTIATE_TEST_SUITE_P(Matmul, MatmulShapes, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

class MatmulLayouts : public ::testing::TestWithParam<DType> {};

TEST_P(MatmulLayouts, StridedAndPermutedOperands) {
  const DType dt = GetParam();
  const double atol = dt == DType::f64 ? 1e-12 : 1e-4;
  Tensor big = randn_t({12, 20}, dt, 1);
  Tensor w = randn_t({9, 7}, dt, 2);
  // A window of a bigger matrix: row stride 20 > K (a leading dimension).
  Tensor a = big.narrow(0, 2, 5).narrow(1, 3, 9);
  EXPECT_ALL_CLOSE(matmul(a, w), ref_matmul(a, w), atol);
  // Every other column: no unit stride, so the op copies it first.
  Tensor s = big.slice(1, 0, 18, 2);  // [12, 9]
  EXPECT_ALL_CLOSE(matmul(s, w), ref_matmul(s, w), atol);
  EXPECT_ALL_CLOSE(matmul(w.mT(), s.mT()), ref_matmul(w.mT(), s.mT()), atol);
  // A transposed view used with trans_a: back to row-major.
  EXPECT_ALL_CLOSE(matmul(a.mT(), w, true, false), ref_matmul(a, w), atol);
  // Permuted batch dims: x [4, 3, 5] viewed as [3, 4, 5] and [5, 3, 4]^T ...
  Tensor x = randn_t({4, 3, 5}, dt, 3);
  Tensor y = randn_t({3, 5, 6}, dt, 4);
  Tensor xp = x.permute({1, 0, 2});  // [3, 4, 5], batch stride 5, row stride 15
  EXPECT_ALL_CLOSE(matmul(xp, y), ref_matmul(xp, y), atol);
  Tensor yp =
      randn_t({6, 3, 5}, dt, 5).permute({1, 2, 0});  // [3, 5, 6] with unit stride nowhere inside
  EXPECT_ALL_CLOSE(matmul(xp, yp), ref_matmul(xp, yp), atol);
  EXPECT_ALL_CLOSE(matmul(yp, xp, true, true), ref_matmul(yp, xp, true, true), atol);
  // An expanded operand (stride 0 along the batch).
  Tensor e = randn_t({1, 4, 5}, dt, 6).expand({3, 4, 5});
  EXPECT_ALL_CLOSE(matmul(e, y), ref_matmul(e.contiguous(), y), atol);
  // A row broadcast along M (stride 0 inside the matrix): copied.
  Tensor r = randn_t({1, 5}, dt, 7).expand({4, 5});
  Tensor y1 = y.select(0, 1);
  EXPECT_ALL_CLOSE(matmul(r, y1), ref_matmul(r, y1), atol);
}

INSTANTIATE_TEST_SUITE_P(Matmul, MatmulLayouts, ::testing::Values(DType::f32, DType::f64),
                         [](const auto& info) { return std::string(dtype_name(info.param)); });

TEST(Matmul, BroadcastBatchDims) {
  struct Case {
    Shape a, b;
    bool ta, tb;
  };
  const Case cases[] = {
      {{2, 1, 3, 4}, {5, 4, 6}, false, false},  // -> [2, 5, 3, 6]
      {{2, 1, 4, 3}, {5, 6, 4}, true, true},
      {{3, 4}, {2, 4, 5}, false, false},  // a shared across the batch
      {{2, 3, 4}, {4, 5}, false, false},  // b shared: folded into one GEMM
      {{2, 3, 4}, {5, 4}, false, true},
      {{2, 4, 3}, {4, 5}, true, false},  // b shared, a transposed: not foldable
      {{1, 3, 4}, {2, 4, 5}, false, false},
      {{2, 1, 3, 4}, {1, 3, 4, 5}, false, false},
      {{3, 4}, {1, 1, 4, 2}, false, false},
  };
  uint64_t seed = 100;
  for (const Case& c : cases)
    for (DType dt : {DType::f32, DType::f64}) {
      Tensor a = randn_t(c.a, dt, ++seed), b = randn_t(c.b, dt, ++seed);
      Tensor out = matmul(a, b, c.ta, c.tb);
      EXPECT_ALL_CLOSE(out, ref_matmul(a, b, c.ta, c.tb), dt == DType::f64 ? 1e-12 : 1e-4)
          << "a " << c.a << " b " << c.b << " " << dtype_name(dt);
    }
  EXPECT_EQ(matmul(zeros({2, 1, 3, 4}), zeros({5, 4, 6})).shape(), (Shape{2, 5, 3, 6}));
}

TEST(Matmul, OneDimensionalOperands) {
  Tensor v = randn64({4}, 1), w = randn64({4}, 2);
  Tensor m = randn64({4, 5}, 3), n = randn64({3, 4}, 4), bt = randn64({2, 4, 5}, 5),
         ba = randn64({2, 3, 4}, 6);
  EXPECT_EQ(matmul(v, m).shape(), (Shape{5}));
  EXPECT_EQ(matmul(n, v).shape(), (Shape{3}));
  EXPECT_EQ(matmul(v, w).shape(), (Shape{}));
  EXPECT_EQ(matmul(v, bt).shape(), (Shape{2, 5}));
  EXPECT_EQ(matmul(ba, v).shape(), (Shape{2, 3}));
  EXPECT_ALL_CLOSE(matmul(v, m), ref_matmul(v, m), 1e-12);
  EXPECT_ALL_CLOSE(matmul(n, v), ref_matmul(n, v), 1e-12);
  EXPECT_ALL_CLOSE(matmul(v, w), ref_matmul(v, w), 1e-12);
  EXPECT_ALL_CLOSE(matmul(v, bt), ref_matmul(v, bt), 1e-12);
  EXPECT_ALL_CLOSE(matmul(ba, v), ref_matmul(ba, v), 1e-12);
  // The flag of a 2-d partner still applies.
  EXPECT_ALL_CLOSE(matmul(v, m.mT().contiguous(), false, true), ref_matmul(v, m), 1e-12);
  // The dot product by hand: 1*4 + 2*5 + 3*6 = 32.
  EXPECT_EQ(matmul(tensor({1, 2, 3}), tensor({4, 5, 6})).item(), 32.0);
}

TEST(Matmul, SmallProductByHand) {
  // [[1, 2], [3, 4]] @ [[5, 6], [7, 8]] = [[19, 22], [43, 50]]
  Tensor a = tensor({1, 2, 3, 4}, {2, 2}), b = tensor({5, 6, 7, 8}, {2, 2});
  EXPECT_EQ(matmul(a, b).to_vector<double>(), (std::vector<double>{19, 22, 43, 50}));
  // a^T b = [[1, 3], [2, 4]] @ b = [[26, 30], [38, 44]]
  EXPECT_EQ(matmul(a, b, true, false).to_vector<double>(), (std::vector<double>{26, 30, 38, 44}));
  // a b^T = [[1*5+2*6, 1*7+2*8], [3*5+4*6, 3*7+4*8]] = [[17, 23], [39, 53]]
  EXPECT_EQ(matmul(a, b, false, true).to_vector<double>(), (std::vector<double>{17, 23, 39, 53}));
}

TEST(Matmul, EmptyDims) {
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(zeros({2, 0, 3}), zeros({3, 4})).shape(), (Shape{2, 0, 4}));
  Tensor z = matmul(ones({2, 0}), ones({0, 3}));  // an empty sum is 0
  EXPECT_EQ(z.shape(), (Shape{2, 3}));
  for (double x : z.to_vector<double>()) EXPECT_EQ(x, 0.0);
}

TEST(Matmul, Bmm) {
  Tensor a = randn64({3, 4, 5}, 1), b = randn64({3, 5, 2}, 2);
  EXPECT_ALL_CLOSE(bmm(a, b), ref_matmul(a, b), 1e-12);
  EXPECT_ALL_CLOSE(bmm(a.to(DType::f32), b.to(DType::f32)), ref_matmul(a, b), 1e-4);
}

TEST(Matmul, LinearMatchesReference) {
  Tensor x = randn64({2, 3, 5}, 1), w = randn64({4, 5}, 2), bias = randn64({4}, 3);
  Tensor expect = add(ref_matmul(x, w.mT().contiguous()), bias);
  EXPECT_ALL_CLOSE(linear(x, w, bias), expect, 1e-12);
  EXPECT_ALL_CLOSE(linear(x, w), ref_matmul(x, w.mT().contiguous()), 1e-12);
  EXPECT_ALL_CLOSE(linear(x.to(DType::f32), w.to(DType::f32), bias.to(DType::f32)), expect, 1e-4);
  EXPECT_EQ(linear(randn64({5}), w, bias).shape(), (Shape{4}));
}

TEST(Matmul, LinearBiasInsideTheGemmEveryDtype) {
  // The bias is added by the GEMM kernels (oneDNN, the f32 route of bf16/f16, the f64 kernel):
  // compare with the reference product plus the bias, for folded, batched and 1-d inputs.
  const std::vector<Shape> xs = {{7, 5}, {2, 3, 5}, {5}, {2, 1, 4, 5}};
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::f16})
    for (const Shape& s : xs) {
      Tensor x = randn_t(s, dt, 1), w = randn_t({6, 5}, dt, 2), bias = randn_t({6}, dt, 3);
      Tensor expect = add(ref_matmul(x.to(DType::f64), w.to(DType::f64).mT().contiguous()),
                          bias.to(DType::f64));
      const double tol = dt == DType::f64 ? 1e-12 : dt == DType::f32 ? 1e-5 : 2e-2;
      EXPECT_ALL_CLOSE(linear(x, w, bias), expect, tol, tol) << dtype_name(dt) << " x " << s;
    }
  // A strided bias, and an empty inner dimension (the output is the bias).
  Tensor x = randn64({4, 5}, 4), w = randn64({3, 5}, 5), b6 = randn64({6}, 6);
  Tensor bs = b6.slice(0, 0, 6, 2);
  EXPECT_ALL_CLOSE(linear(x, w, bs), add(ref_matmul(x, w.mT().contiguous()), bs), 1e-12);
  Tensor e = linear(zeros({2, 0}, DType::f64), zeros({3, 0}, DType::f64), bs);
  EXPECT_ALL_CLOSE(e, bs.unsqueeze(0).expand({2, 3}), 0.0);
}

TEST(Matmul, F64ResultDoesNotDependOnThreadCount) {
  Tensor a = randn64({70, 300}, 1), b = randn64({300, 90}, 2);
  Tensor c1, c2;
  {
    ThreadCountGuard g(1);
    c1 = matmul(a, b);
  }
  {
    ThreadCountGuard g(2);
    c2 = matmul(a, b);
  }
  EXPECT_EQ(c1.to_vector<double>(), c2.to_vector<double>());
}

// ---- batch invariance ------------------------------------------------------------------------

// Under ops::BatchInvariant a row of linear(x, w) is a function of that row of x alone: rows
// are computed from x[start : start + m] for many (start, m) (so a row sits at every offset of
// the fixed row blocks, in products of every length, at 1 and 2 threads) and compared bit for
// bit with the row computed alone. Without the flag oneDNN may round them differently.
void check_rows_invariant(DType dt, bool bias, bool transposed_x) {
  const int64_t K = 48, N = 40, rows = 90;
  Tensor x = randn_t(transposed_x ? Shape{K, rows} : Shape{rows, K}, dt, 7);
  if (transposed_x) x = x.transpose(0, 1);  // column-major rows: packed by the kernel
  Tensor w = randn_t({N, K}, dt, 8), b = bias ? randn_t({N}, dt, 9) : Tensor();
  BatchInvariant invariant;
  std::vector<std::vector<double>> alone(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r)
    alone[size_t(r)] = linear(x.narrow(0, r, 1), w, b).to_vector<double>();
  const Mkn cases[] = {{0, 90, 1}, {0, 33, 2},  {5, 32, 1}, {17, 64, 2},
                       {1, 31, 1}, {40, 50, 2}, {89, 1, 1}};
  for (auto [start, m, threads] : cases) {
    ThreadCountGuard g{int(threads)};
    const std::vector<double> c = linear(x.narrow(0, start, m), w, b).to_vector<double>();
    for (int64_t r = 0; r < m; ++r) {
      const std::vector<double> row(c.begin() + r * N, c.begin() + (r + 1) * N);
      ASSERT_EQ(row, alone[size_t(start + r)])
          << dtype_name(dt) << " row " << start + r << " of a product of " << m << " rows from row "
          << start << ", " << threads << " threads";
    }
  }
  // Three-dimensional x (the batch folds into the rows) and a batched matmul (per-batch B).
  Tensor x3 = x.narrow(0, 0, 60).reshape({4, 15, K});
  const std::vector<double> c3 = linear(x3, w, b).to_vector<double>();
  for (int64_t r = 0; r < 60; ++r)
    ASSERT_EQ(std::vector<double>(c3.begin() + r * N, c3.begin() + (r + 1) * N), alone[size_t(r)])
        << "row " << r << " of [4, 15, K]";
}

TEST(Matmul, BatchInvariantRowsDoNotDependOnTheOtherRowsF32) {
  for (bool bias : {false, true})
    for (bool tx : {false, true}) check_rows_invariant(DType::f32, bias, tx);
}

TEST(Matmul, BatchInvariantRowsDoNotDependOnTheOtherRowsHalf) {
  check_rows_invariant(DType::bf16, true, false);
  check_rows_invariant(DType::f16, false, false);
}

TEST(Matmul, BatchInvariantBatchedProductMatchesReference) {
  // Per-batch B (no folding): every batch's rows in blocks; results within f32 rounding of the
  // plain-loop product, and each batch equal to its own product computed alone.
  Tensor a = randn_t({3, 37, 20}, DType::f32, 11), b = randn_t({3, 20, 9}, DType::f32, 12);
  BatchInvariant invariant;
  Tensor c = bmm(a, b);
  EXPECT_ALL_CLOSE(c, ref_matmul(a.to(DType::f64), b.to(DType::f64)), f32_atol(20), 1e-5);
  for (int64_t i = 0; i < 3; ++i)
    EXPECT_EQ(matmul(a.select(0, i).narrow(0, 3, 34), b.select(0, i)).to_vector<float>(),
              c.select(0, i).narrow(0, 3, 34).contiguous().to_vector<float>())
        << "batch " << i;
}

TEST(Matmul, BatchInvariantGuardNestsAndRestores) {
  EXPECT_FALSE(batch_invariant());
  {
    BatchInvariant on;
    EXPECT_TRUE(batch_invariant());
    {
      BatchInvariant off(false);
      EXPECT_FALSE(batch_invariant());
    }
    EXPECT_TRUE(batch_invariant());
  }
  EXPECT_FALSE(batch_invariant());
}

// ---- half types -----------------------------------------------------------------------------

// bf16/f16 products accumulate in f32 and round once: compare with the f32 product of the same
// (rounded) inputs, within the output type's rounding.
void check_half(DType dt, double rtol) {
  uint64_t seed = 50;
  for (auto [M, K, N] : kShapes)
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = randn_t(ta ? Shape{K, M} : Shape{M, K}, dt, ++seed);
        Tensor b = randn_t(tb ? Shape{N, K} : Shape{K, N}, dt, ++seed);
        Tensor c = matmul(a, b, ta, tb);
        ASSERT_EQ(c.dtype(), dt);
        Tensor expect = ref_matmul(a.to(DType::f64), b.to(DType::f64), ta, tb);
        EXPECT_ALL_CLOSE(c, expect, f32_atol(K), rtol)
            << dtype_name(dt) << " M=" << M << " K=" << K << " N=" << N << " ta=" << ta
            << " tb=" << tb;
      }
  // Batched with broadcast, and a strided window.
  Tensor a = randn_t({2, 1, 3, 8}, dt, 1), b = randn_t({5, 8, 6}, dt, 2);
  EXPECT_ALL_CLOSE(matmul(a, b), ref_matmul(a.to(DType::f64), b.to(DType::f64)), 1e-4, rtol);
  Tensor x = randn_t({4, 12, 8}, dt, 3), w = randn_t({8, 7}, dt, 4);
  Tensor xs = x.narrow(2, 1, 6).narrow(1, 2, 9);  // [4, 9, 6]
  Tensor ws = w.narrow(0, 0, 6);
  EXPECT_ALL_CLOSE(matmul(xs, ws), ref_matmul(xs.to(DType::f64), ws.to(DType::f64)), 1e-4, rtol);
}

TEST(Matmul, Bf16MatchesF32WithinRounding) {
  check_half(DType::bf16, 1.0 / 128);   // 8 significant bits: half an ulp is 2^-8 relative
  if (cpu::gemm_native(DType::bf16)) {  // exercise the f32 route too where native bf16 exists
    cpu::gemm_set_native_enabled(false);
    check_half(DType::bf16, 1.0 / 128);
    cpu::gemm_set_native_enabled(true);
  }
}

TEST(Matmul, F16MatchesF32WithinRounding) {
  check_half(DType::f16, 1.0 / 1024);
}

TEST(Matmul, Bf16AgreesWithF32Product) {
  Tensor a = randn64({33, 70}, 1).to(DType::f32), b = randn64({70, 20}, 2).to(DType::f32);
  Tensor c16 = matmul(a.to(DType::bf16), b.to(DType::bf16));
  Tensor c32 = matmul(a, b);
  // Inputs rounded to bf16 (relative error 2^-9 each): products differ by ~2^-8 relative, and
  // sums of 70 of them by ~sqrt(70) times that of a typical term.
  EXPECT_ALL_CLOSE(c16, c32, 0.25, 0.02);
}

// ---- gradients ------------------------------------------------------------------------------

TEST(MatmulGrad, EveryTransposeCombination) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = randn64(ta ? Shape{4, 3} : Shape{3, 4}, 1).requires_grad_();
      Tensor b = randn64(tb ? Shape{5, 4} : Shape{4, 5}, 2).requires_grad_();
      auto f = [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); };
      EXPECT_GRADCHECK(f, {a, b}) << "ta=" << ta << " tb=" << tb;
    }
}

TEST(MatmulGrad, BroadcastBatch) {
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = randn64(ta ? Shape{2, 1, 4, 3} : Shape{2, 1, 3, 4}, 1).requires_grad_();
      Tensor b = randn64(tb ? Shape{3, 2, 4} : Shape{3, 4, 2}, 2).requires_grad_();
      auto f = [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); };
      EXPECT_GRADCHECK(f, {a, b}) << "ta=" << ta << " tb=" << tb;
    }
}

TEST(MatmulGrad, SharedRightOperandFoldsBatch) {
  // b 2-d and a batched: dB comes from one folded GEMM.
  for (bool ta : {false, true})
    for (bool tb : {false, true}) {
      Tensor a = randn64(ta ? Shape{2, 3, 4, 3} : Shape{2, 3, 3, 4}, 1).requires_grad_();
      Tensor b = randn64(tb ? Shape{2, 4} : Shape{4, 2}, 2).requires_grad_();
      auto f = [ta, tb](const std::vector<Tensor>& in) { return matmul(in[0], in[1], ta, tb); };
      EXPECT_GRADCHECK(f, {a, b}) << "ta=" << ta << " tb=" << tb;
    }
  Tensor a = randn64({3, 4}, 3).requires_grad_();  // a shared, b batched
  Tensor b = randn64({2, 4, 5}, 4).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); }, {a, b});
}

TEST(MatmulGrad, OneDimensionalOperands) {
  Tensor v = randn64({4}, 1).requires_grad_(), w = randn64({4}, 2).requires_grad_();
  Tensor m = randn64({4, 3}, 3).requires_grad_(), bt = randn64({2, 4, 3}, 4).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  EXPECT_GRADCHECK(f, {v, m});
  EXPECT_GRADCHECK(f, {m.detach().mT().contiguous().requires_grad_(), v});
  EXPECT_GRADCHECK(f, {v, w});
  EXPECT_GRADCHECK(f, {v, bt});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return matmul(in[0], in[1], false, true); },
                   {v, randn64({3, 4}, 5).requires_grad_()});
}

TEST(MatmulGrad, StridedInputs) {
  Tensor x = randn64({4, 6}, 1).requires_grad_(), y = randn64({3, 5}, 2).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    return matmul(in[0].slice(1, 0, 6, 2), in[1].narrow(1, 1, 4));
  };
  EXPECT_GRADCHECK(f, {x, y});
}

TEST(MatmulGrad, Bmm) {
  Tensor a = randn64({2, 3, 4}, 1).requires_grad_(), b = randn64({2, 4, 5}, 2).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return bmm(in[0], in[1]); }, {a, b});
}

TEST(MatmulGrad, Linear) {
  Tensor x = randn64({2, 3, 5}, 1).requires_grad_(), w = randn64({4, 5}, 2).requires_grad_();
  Tensor bias = randn64({4}, 3).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                   {x, w, bias});
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1]); }, {x, w});
  Tensor b6 = randn64({8}, 5).requires_grad_();  // a strided bias
  EXPECT_GRADCHECK(
      [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2].slice(0, 0, 8, 2)); },
      {x, w, b6});
  Tensor x1 = randn64({5}, 4).requires_grad_();
  EXPECT_GRADCHECK([](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); },
                   {x1, w, bias});
}

TEST(MatmulGrad, LinearBiasGradIsSumOverLeadingDims) {
  Tensor x = randn64({2, 3, 5}, 1), w = randn64({4, 5}, 2);
  Tensor bias = zeros({4}, DType::f64).requires_grad_();
  sum(linear(x, w, bias)).backward();
  for (double g : bias.grad().to_vector<double>()) EXPECT_EQ(g, 6.0);  // 2*3 rows, each adds 1
}

TEST(MatmulGrad, OnlyTheOperandThatNeedsIt) {
  Tensor a = randn64({3, 4}, 1).requires_grad_();
  Tensor b = randn64({4, 2}, 2);
  sum(matmul(a, b)).backward();
  // d/da sum(a b) = 1 b^T: every row of the gradient is the row sums of b.
  Tensor rows = sum(b, {1});
  Tensor expect = rows.unsqueeze(0).expand({3, 4});
  EXPECT_ALL_CLOSE(a.grad(), expect, 1e-12);
  EXPECT_FALSE(b.grad().defined());
}

// ---- errors ---------------------------------------------------------------------------------

TEST(MatmulErrors, InnerDimensionsNameOpAndShapes) {
  EXPECT_EQ(error_of([] {
              matmul(zeros({2, 3}), zeros({4, 5}));
            }),
            "matmul: inner dimensions differ: a [2, 3] @ b [4, 5] (3 vs 4)");
  EXPECT_EQ(error_of([] {
              matmul(zeros({2, 3}), zeros({4, 5}), false, true);
            }),
            "matmul: inner dimensions differ: a [2, 3] @ b [4, 5]^T (3 vs 5)");
  EXPECT_EQ(error_of([] {
              matmul(zeros({3}), zeros({4, 5}));
            }),
            "matmul: inner dimensions differ: a [3] @ b [4, 5] (3 vs 4)");
}

TEST(MatmulErrors, BatchDtypeDeviceAndRank) {
  std::string m = error_of([] { matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); });
  EXPECT_NE(m.find("batch dims do not broadcast"), std::string::npos) << m;
  EXPECT_NE(m.find("[2, 3, 4]"), std::string::npos) << m;
  EXPECT_NE(m.find("[3, 4, 5]"), std::string::npos) << m;
  m = error_of([] { matmul(zeros({2, 3}), zeros({3, 4}, DType::f64)); });
  EXPECT_NE(m.find("matmul: operands have different dtypes"), std::string::npos) << m;
  EXPECT_NE(m.find("f32"), std::string::npos) << m;
  EXPECT_NE(m.find("f64"), std::string::npos) << m;
  m = error_of([] { matmul(arange(6).reshape({2, 3}), arange(6).reshape({3, 2})); });
  EXPECT_NE(m.find("matmul: expected floating operands"), std::string::npos) << m;
  EXPECT_NE(m.find("i64"), std::string::npos) << m;
  m = error_of([] { matmul(scalar(1.0), zeros({3})); });
  EXPECT_NE(m.find("at least 1 dim"), std::string::npos) << m;
}

TEST(MatmulErrors, BmmAndLinear) {
  EXPECT_EQ(error_of([] {
              bmm(zeros({2, 3, 4}), zeros({3, 4, 5}));
            }),
            "bmm: batch sizes differ: a [2, 3, 4] @ b [3, 4, 5] (2 vs 3)");
  std::string m = error_of([] { bmm(zeros({3, 4}), zeros({4, 5})); });
  EXPECT_NE(m.find("bmm: expected 3-d operands"), std::string::npos) << m;
  EXPECT_EQ(error_of([] {
              linear(zeros({4, 3}), zeros({5, 2}));
            }),
            "linear: input features differ: x [4, 3] vs weight [5, 2] (3 vs 2)");
  m = error_of([] { linear(zeros({4, 3}), zeros({5, 3}), zeros({4})); });
  EXPECT_NE(m.find("linear: bias must be 1-d of size 5"), std::string::npos) << m;
  EXPECT_EQ(error_of([] {
              linear(zeros({4, 3}), zeros({5, 3}, DType::f64));
            }),
            "linear: operands have different dtypes: x [4, 3] is f32, weight [5, 3]^T is f64; "
            "convert one with .to(dtype)");
}

// ---- the primitive cache --------------------------------------------------------------------

TEST(MatmulCache, SecondCallReusesThePrimitive) {
  Tensor a = randn_t({37, 23}, DType::f32, 1), b = randn_t({23, 41}, DType::f32, 2);
  matmul(a, b);
  const cpu::GemmStats s1 = cpu::gemm_stats();
  Tensor c = matmul(a, b);
  matmul(randn_t({37, 23}, DType::f32, 3),
         randn_t({23, 41}, DType::f32, 4));  // new data, same shape
  const cpu::GemmStats s2 = cpu::gemm_stats();
  EXPECT_EQ(s2.primitives_created, s1.primitives_created);
  EXPECT_GE(s2.cache_hits, s1.cache_hits + 2);
  // A new shape makes one new primitive.
  matmul(randn_t({38, 23}, DType::f32, 5), b);
  EXPECT_EQ(cpu::gemm_stats().primitives_created, s2.primitives_created + 1);
  EXPECT_ALL_CLOSE(c, ref_matmul(a, b), 1e-4);
}

TEST(MatmulCache, ConcurrentCallsFromThreads) {
  // Threads share the primitive cache (same and different shapes); each result must be right.
  Tensor a = randn_t({33, 20}, DType::f32, 1), b = randn_t({20, 17}, DType::f32, 2);
  Tensor h = randn_t({9, 20}, DType::bf16, 3);
  const Tensor expect_ab = ref_matmul(a, b), expect_hb = ref_matmul(h, b.to(DType::bf16));
  std::vector<std::string> errors(4);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        ::testing::AssertionResult r =
            t % 2 ? testing::all_close(matmul(h, b.to(DType::bf16)), expect_hb, 1e-3, 1.0 / 128)
                  : testing::all_close(matmul(a, b), expect_ab, 1e-4);
        if (!r) errors[size_t(t)] = r.message();
      }
    });
  for (std::thread& t : threads) t.join();
  for (const std::string& e : errors) EXPECT_EQ(e, "");
}

TEST(MatmulCache, LayoutRule) {
  EXPECT_TRUE(cpu::gemm_layout_ok(3, 4, 4, 1));   // row-major
  EXPECT_TRUE(cpu::gemm_layout_ok(3, 4, 1, 3));   // column-major
  EXPECT_TRUE(cpu::gemm_layout_ok(3, 4, 10, 1));  // leading dimension beyond the row
  EXPECT_TRUE(cpu::gemm_layout_ok(1, 4, 0, 1));   // a single row: its row stride is free
  EXPECT_FALSE(cpu::gemm_layout_ok(3, 4, 8, 2));  // no unit stride
  EXPECT_FALSE(cpu::gemm_layout_ok(3, 4, 0, 1));  // rows overlap
}

}  // namespace
}  // namespace kiln
