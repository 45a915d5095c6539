// Autocast: matmul, bmm and linear compute f32 operands in bf16 (or f16) inside an Autocast
// scope, return f32, and backpropagate f32 gradients to f32 leaves.
#include "core/ops/autocast.h"

#include <thread>

#include "core/tensor/half.h"
#include "tests/core/test_util.h"

namespace kiln::testing {
namespace {

float round_bf16(double v) {
  return float(bf16(float(v)));
}

// A [M, K] @ B [K, N] in f64 from the bf16 roundings of A and B, the result rounded to bf16:
// what a bf16 GEMM accumulating in f32 gives, up to the f32 accumulation order.
std::vector<double> bf16_product(const Tensor& a, const Tensor& b, int64_t M, int64_t K,
                                 int64_t N) {
  std::vector<float> av = a.to_vector<float>(), bv = b.to_vector<float>();
  std::vector<double> out(size_t(M * N));
  for (int64_t i = 0; i < M; ++i)
    for (int64_t j = 0; j < N; ++j) {
      double s = 0;
      for (int64_t k = 0; k < K; ++k)
        s += double(round_bf16(av[size_t(i * K + k)])) * double(round_bf16(bv[size_t(k * N + j)]));
      out[size_t(i * N + j)] = round_bf16(s);
    }
  return out;
}

TEST(Autocast, ModeIsScopedAndPerThread) {
  EXPECT_EQ(ops::autocast_dtype(), DType::f32);
  {
    ops::Autocast a(DType::bf16);
    EXPECT_EQ(ops::autocast_dtype(), DType::bf16);
    DType other = DType::bf16;
    std::thread([&] { other = ops::autocast_dtype(); }).join();
    EXPECT_EQ(other, DType::f32);  // another thread is not in the scope
    {
      ops::Autocast off(DType::f32);
      EXPECT_EQ(ops::autocast_dtype(), DType::f32);
    }
    EXPECT_EQ(ops::autocast_dtype(), DType::bf16);
  }
  EXPECT_EQ(ops::autocast_dtype(), DType::f32);
  try {
    ops::Autocast bad(DType::i64);
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "autocast: the compute dtype must be bf16, f16 or f32 (off), got i64"),
              std::string::npos)
        << e.what();
  }
}

TEST(Autocast, MatmulRoundsOperandsToBf16AndReturnsF32) {
  Tensor a = randn64({5, 7}, 1).to(DType::f32), b = randn64({7, 3}, 2).to(DType::f32);
  Tensor plain = ops::matmul(a, b);
  Tensor low;
  {
    ops::Autocast ac(DType::bf16);
    low = ops::matmul(a, b);
  }
  EXPECT_EQ(low.dtype(), DType::f32);
  std::vector<double> ref = bf16_product(a, b, 5, 7, 3);
  std::vector<float> got = low.to_vector<float>();
  for (size_t i = 0; i < ref.size(); ++i)
    EXPECT_NEAR(got[i], ref[i], 1e-2 * std::abs(ref[i]) + 1e-6) << i;
  EXPECT_FALSE(all_close(low, plain, 0, 1e-6));  // it did round
  EXPECT_TRUE(all_close(low, plain, 0.05, 0.02));
}

TEST(Autocast, LinearAndBmmToo) {
  Tensor x = randn64({2, 4, 6}, 3).to(DType::f32), w = randn64({5, 6}, 4).to(DType::f32);
  Tensor bias = randn64({5}, 5).to(DType::f32);
  Tensor y32 = ops::linear(x, w, bias);
  Tensor expected =
      ops::linear(x.to(DType::bf16), w.to(DType::bf16), bias.to(DType::bf16)).to(DType::f32);
  Tensor y, z;
  Tensor p = randn64({2, 4, 6}, 6).to(DType::f32), q = randn64({2, 6, 3}, 7).to(DType::f32);
  {
    ops::Autocast ac(DType::bf16);
    y = ops::linear(x, w, bias);
    z = ops::bmm(p, q);
  }
  EXPECT_EQ(y.dtype(), DType::f32);
  EXPECT_TRUE(all_close(y, expected, 0, 0));
  EXPECT_FALSE(all_close(y, y32, 0, 1e-6));
  EXPECT_TRUE(all_close(z, ops::bmm(p.to(DType::bf16), q.to(DType::bf16)).to(DType::f32), 0, 0));
}

TEST(Autocast, GradientsReachF32LeavesInF32) {
  Tensor w = randn64({4, 3}, 8).to(DType::f32).requires_grad_();
  Tensor x = randn64({2, 3}, 9).to(DType::f32).requires_grad_();
  Tensor y;
  {
    ops::Autocast ac(DType::bf16);
    y = ops::linear(x, w);
  }
  ops::sum(y).backward();  // backward outside the scope: the casts were recorded
  ASSERT_TRUE(w.grad().defined());
  EXPECT_EQ(w.grad().dtype(), DType::f32);
  EXPECT_EQ(x.grad().dtype(), DType::f32);
  // d sum(x w^T) / dw[o, i] = sum_b x[b, i], from bf16-rounded x (a bf16 GEMM with a ones
  // gradient): close to the f32 value at bf16 precision.
  Tensor xs = ops::sum(x.detach(), {0});
  for (int64_t o = 0; o < 4; ++o) EXPECT_TRUE(all_close(w.grad().select(0, o), xs, 1e-2, 1e-2));
}

TEST(Autocast, OtherDtypesAreLeftAlone) {
  Tensor a = randn64({3, 3}, 10), b = randn64({3, 3}, 11);
  ops::Autocast ac(DType::bf16);
  Tensor c = ops::matmul(a, b);
  EXPECT_EQ(c.dtype(), DType::f64);
  {
    ops::Autocast off(DType::f32);
    EXPECT_TRUE(all_close(c, ops::matmul(a, b), 0, 0));
  }
}

}  // namespace
}  // namespace kiln::testing
