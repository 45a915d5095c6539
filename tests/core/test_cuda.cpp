// The CUDA backend against the CPU kernels. Every test skips, saying why, when this build has
// no CUDA backend or no CUDA device is present.
#include <gtest/gtest.h>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using testing::all_close;

#define REQUIRE_CUDA()                                                                          \
  do {                                                                                          \
    if (!cuda_available())                                                                      \
      GTEST_SKIP() << "no CUDA device present (or this kiln was built without KILN_CUDA)";      \
  } while (0)

const Device kGpu = Device::cuda(0);

Tensor rnd(const Shape& s, DType dt = DType::f32, uint64_t seed = 1, double lo = -2, double hi = 2) {
  Generator g(seed);
  return rand(s, DType::f64, &g, lo, hi).to(dt);
}

double tol(DType dt) { return dt == DType::f64 ? 1e-12 : dt == DType::f32 ? 2e-5 : 2e-2; }

TEST(Cuda, WithoutADeviceTheErrorIsClear) {
  if (cuda_available()) GTEST_SKIP() << "a CUDA device is present";
  try {
    zeros({2}, DType::f32, kGpu);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_TRUE(m.find("no CUDA device present") != std::string::npos ||
                m.find("built without CUDA") != std::string::npos) << m;
  }
}

TEST(Cuda, CopiesRoundTripEveryDtypeAndLayout) {
  REQUIRE_CUDA();
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::f16, DType::i32, DType::i64, DType::u8, DType::boolean}) {
    Tensor x = rnd({3, 5, 7}, DType::f32, 2, 0, 3).to(dt);
    Tensor d = x.to(kGpu);
    EXPECT_EQ(d.device(), kGpu);
    EXPECT_TRUE(all_close(d.to(Device::cpu()), x, 0, 0)) << dtype_name(dt);
    // Strided views on the device, converted on the way back.
    Tensor v = d.permute({2, 0, 1}).slice(0, 1, 7, 2);
    EXPECT_TRUE(all_close(v.to(Device::cpu()), x.permute({2, 0, 1}).slice(0, 1, 7, 2), 0, 0)) << dtype_name(dt);
  }
  Tensor f = full({4, 3}, 2.5, DType::bf16, kGpu);
  EXPECT_EQ(f.to(Device::cpu()).to_vector<float>(), std::vector<float>(12, 2.5f));
  EXPECT_EQ(f.to(DType::f32).to(Device::cpu()).to_vector<float>(), std::vector<float>(12, 2.5f));
  EXPECT_EQ(scalar(3.0, DType::f32, kGpu).item(), 3.0);
}

TEST(Cuda, UnaryOpsAndGradientsMatchTheCpu) {
  REQUIRE_CUDA();
  for (DType dt : {DType::f64, DType::f32, DType::bf16}) {
    for (int op = 0; op < kNumUnaryOps; ++op) {
      UnaryOp u = UnaryOp(op);
      bool positive = u == UnaryOp::log || u == UnaryOp::sqrt || u == UnaryOp::rsqrt || u == UnaryOp::reciprocal ||
                      u == UnaryOp::pow_scalar;
      Tensor x = rnd({33, 17}, DType::f64, 3, positive ? 0.5 : -3, 3).to(dt);
      double p0 = u == UnaryOp::clamp ? -1.0 : u == UnaryOp::softplus ? 1.5 : u == UnaryOp::pow_scalar ? 1.7 : 0.5;
      double p1 = u == UnaryOp::clamp ? 1.0 : u == UnaryOp::softplus ? 20.0 : 0.25;
      Tensor xc = x.clone().requires_grad_(), xg = x.to(kGpu).requires_grad_();
      Tensor yc = ops::unary(u, xc, p0, p1), yg = ops::unary(u, xg, p0, p1);
      EXPECT_TRUE(all_close(yg.to(Device::cpu()), yc, tol(dt), tol(dt))) << op_name(u) << " " << dtype_name(dt);
      Tensor g = rnd({33, 17}, dt, 4);
      yc.backward(g);
      yg.backward(g.to(kGpu));
      EXPECT_TRUE(all_close(xg.grad().to(Device::cpu()), xc.grad(), tol(dt), tol(dt)))
          << op_name(u) << " backward " << dtype_name(dt);
    }
  }
}

TEST(Cuda, BinaryCompareWhereWithBroadcasting) {
  REQUIRE_CUDA();
  for (DType dt : {DType::f64, DType::f32, DType::f16, DType::i64}) {
    Tensor a = rnd({4, 1, 6}, DType::f64, 5, 1, 5).to(dt), b = rnd({3, 1}, DType::f64, 6, 1, 5).to(dt);
    Tensor ag = a.to(kGpu), bg = b.to(kGpu);
    for (int op = 0; op < kNumBinaryOps; ++op) {
      BinaryOp o = BinaryOp(op);
      if (!is_floating(dt) && (o == BinaryOp::pow || o == BinaryOp::div)) continue;
      EXPECT_TRUE(all_close(ops::binary(o, ag, bg).to(Device::cpu()), ops::binary(o, a, b), tol(dt), tol(dt)))
          << op_name(o) << " " << dtype_name(dt);
    }
    for (int op = 0; op < kNumCompareOps; ++op) {
      CompareOp o = CompareOp(op);
      EXPECT_TRUE(all_close(ops::compare(o, ag, bg).to(Device::cpu()), ops::compare(o, a, b), 0, 0)) << op_name(o);
    }
    Tensor c = ops::gt(a, b);
    EXPECT_TRUE(all_close(ops::where(c.to(kGpu), ag, bg).to(Device::cpu()), ops::where(c, a, b), 0, 0));
  }
}

TEST(Cuda, ReductionsAndSoftmaxMatchTheCpu) {
  REQUIRE_CUDA();
  for (DType dt : {DType::f64, DType::f32, DType::bf16}) {
    Tensor x = rnd({5, 300, 7}, dt, 7);
    Tensor xg = x.to(kGpu);
    for (std::vector<int64_t> dims : std::vector<std::vector<int64_t>>{{}, {0}, {1}, {2}, {0, 2}}) {
      EXPECT_TRUE(all_close(ops::sum(xg, dims).to(Device::cpu()), ops::sum(x, dims), tol(dt) * 30, tol(dt)));
      EXPECT_TRUE(all_close(ops::max(xg, dims).to(Device::cpu()), ops::max(x, dims), 0, 0));
      EXPECT_TRUE(all_close(ops::min(xg, dims).to(Device::cpu()), ops::min(x, dims), 0, 0));
    }
    for (int64_t dim : {1, 2}) {
      Tensor sc = x.clone().requires_grad_(), sg = xg.clone().detach().requires_grad_();
      Tensor g = rnd(x.shape(), dt, 8);
      ops::softmax(sc, dim).backward(g);
      ops::softmax(sg, dim).backward(g.to(kGpu));
      EXPECT_TRUE(all_close(ops::softmax(xg, dim).to(Device::cpu()), ops::softmax(x, dim), tol(dt), tol(dt)));
      EXPECT_TRUE(all_close(sg.grad().to(Device::cpu()), sc.grad(), tol(dt), tol(dt)));
      EXPECT_TRUE(all_close(ops::log_softmax(xg, dim).to(Device::cpu()), ops::log_softmax(x, dim), tol(dt), tol(dt)));
    }
  }
  Tensor i = arange(12).view({3, 4});
  EXPECT_EQ(ops::sum(i.to(kGpu), {1}).to(Device::cpu()).to_vector<int64_t>(), (std::vector<int64_t>{6, 22, 38}));
}

TEST(Cuda, MatmulEveryLayoutAndDtype) {
  REQUIRE_CUDA();
  for (DType dt : {DType::f64, DType::f32, DType::bf16, DType::f16}) {
    for (bool ta : {false, true})
      for (bool tb : {false, true}) {
        Tensor a = rnd(ta ? Shape{2, 37, 19} : Shape{2, 19, 37}, dt, 9), b = rnd(tb ? Shape{23, 37} : Shape{37, 23}, dt, 10);
        Tensor want = ops::matmul(a.to(DType::f64), b.to(DType::f64), ta, tb);
        Tensor got = ops::matmul(a.to(kGpu), b.to(kGpu), ta, tb).to(Device::cpu()).to(DType::f64);
        double t = dt == DType::f64 ? 1e-12 : dt == DType::f32 ? 1e-4 : 0.1;
        EXPECT_TRUE(all_close(got, want, t, 0.02)) << dtype_name(dt) << " ta=" << ta << " tb=" << tb;
      }
    // Broadcast batch dims that do not fold, and a fused bias.
    Tensor a = rnd({3, 1, 5, 8}, dt, 11), b = rnd({4, 8, 6}, dt, 12), bias = rnd({6}, dt, 13);
    Tensor want = ops::add(ops::matmul(a.to(DType::f64), b.to(DType::f64)), bias.to(DType::f64));
    Tensor got = ops::add(ops::matmul(a.to(kGpu), b.to(kGpu)), bias.to(kGpu)).to(Device::cpu()).to(DType::f64);
    EXPECT_TRUE(all_close(got, want, dt == DType::f64 ? 1e-12 : 0.05, 0.02)) << dtype_name(dt);
    Tensor x = rnd({4, 8}, dt, 14), w = rnd({6, 8}, dt, 15);
    Tensor lw = ops::linear(x.to(DType::f64), w.to(DType::f64), bias.to(DType::f64));
    Tensor lg = ops::linear(x.to(kGpu), w.to(kGpu), bias.to(kGpu)).to(Device::cpu()).to(DType::f64);
    EXPECT_TRUE(all_close(lg, lw, dt == DType::f64 ? 1e-12 : 0.05, 0.02)) << "linear " << dtype_name(dt);
  }
}

TEST(Cuda, MlpGradientsMatchTheCpu) {
  REQUIRE_CUDA();
  Tensor x = rnd({64, 32}), y = rnd({64, 1}, DType::f32, 2);
  Tensor w1 = rnd({128, 32}, DType::f32, 3, -0.2, 0.2), b1 = rnd({128}, DType::f32, 4, -0.1, 0.1);
  Tensor w2 = rnd({1, 128}, DType::f32, 5, -0.2, 0.2);
  auto loss = [&](Device d, std::vector<Tensor>& params) {
    params = {w1.to(d).detach().requires_grad_(), b1.to(d).detach().requires_grad_(), w2.to(d).detach().requires_grad_()};
    Tensor h = ops::gelu(ops::linear(x.to(d), params[0], params[1]), ops::GeluApprox::tanh);
    Tensor l = ops::mean(ops::square(ops::sub(ops::linear(h, params[2]), y.to(d))));
    l.backward();
    return l;
  };
  std::vector<Tensor> pc, pg;
  Tensor lc = loss(Device::cpu(), pc), lg = loss(kGpu, pg);
  EXPECT_NEAR(lg.item(), lc.item(), 1e-5 * std::abs(lc.item()));
  for (size_t i = 0; i < pc.size(); ++i)
    EXPECT_TRUE(all_close(pg[i].grad().to(Device::cpu()), pc[i].grad(), 1e-5, 1e-4)) << "param " << i;
}

TEST(Cuda, AllocatorCachesAndCounts) {
  REQUIRE_CUDA();
  reset_peak_memory(kGpu);
  size_t before = memory_stats(kGpu).in_use;
  {
    Tensor t = empty({1 << 20}, DType::f32, kGpu);
    EXPECT_GE(memory_stats(kGpu).in_use, before + (4u << 20));
  }
  EXPECT_EQ(memory_stats(kGpu).in_use, before);
  EXPECT_GE(memory_stats(kGpu).cached, 4u << 20);
  EXPECT_GE(memory_stats(kGpu).peak, before + (4u << 20));
}

TEST(Cuda, MissingKernelNamesOpDeviceAndDtype) {
  REQUIRE_CUDA();
  try {
    ops::layer_norm(zeros({2, 4}, DType::f32, kGpu), Tensor(), Tensor());
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("cuda:0"), std::string::npos) << m;
    EXPECT_NE(m.find("f32"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace kiln
