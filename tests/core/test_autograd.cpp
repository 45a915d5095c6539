// The tape: accumulation, retain_graph, no_grad, detach, checkpointing, misuse.
#include <gtest/gtest.h>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::randn64;

TEST(Autograd, ChainRuleThroughSharedInput) {
  // y = x*x + x  ->  dy/dx = 2x + 1, with x reaching the output along two paths.
  Tensor x = tensor({1.0, -2.0, 3.0}, {}, DType::f64).requires_grad_();
  Tensor y = sum(add(mul(x, x), x));
  y.backward();
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{3.0, -3.0, 7.0}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = tensor({2.0}, {}, DType::f64).requires_grad_();
  sum(mul(x, 3.0)).backward();
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().item(), 6.0);
  x.set_grad(Tensor());
  sum(mul(x, 3.0)).backward();
  EXPECT_EQ(x.grad().item(), 3.0);
}

TEST(Autograd, BackwardWithGivenOutputGradient) {
  Tensor x = tensor({1.0, 2.0}, {}, DType::f64).requires_grad_();
  Tensor y = mul(x, x);
  y.backward(tensor({10.0, 100.0}, {}, DType::f64));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{20.0, 400.0}));
}

TEST(Autograd, NonScalarNeedsAGradient) {
  Tensor x = tensor({1.0, 2.0}, {}, DType::f64).requires_grad_();
  EXPECT_THROW(mul(x, x).backward(), Error);
}

TEST(Autograd, SecondBackwardThroughFreedGraphThrows) {
  Tensor x = tensor({1.0, 2.0}, {}, DType::f64).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward();
  try {
    y.backward();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("retain_graph"), std::string::npos) << e.what();
  }
}

TEST(Autograd, RetainGraphAllowsSecondBackward) {
  Tensor x = tensor({1.0, 2.0}, {}, DType::f64).requires_grad_();
  Tensor y = sum(exp(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  y.backward();
  std::vector<double> g = x.grad().to_vector<double>();
  EXPECT_NEAR(g[0], 2 * std::exp(1.0), 1e-12);
  EXPECT_NEAR(g[1], 2 * std::exp(2.0), 1e-12);
}

TEST(Autograd, IntegerTensorsCannotRequireGrad) {
  Tensor i = arange(3);
  EXPECT_THROW(i.requires_grad_(), Error);
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor x = ones({2}, DType::f64).requires_grad_();
  Tensor y;
  {
    autograd::NoGrad ng;
    y = mul(x, 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_THROW(sum(y).backward(), Error);
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = tensor({3.0}, {}, DType::f64).requires_grad_();
  Tensor y = mul(x, x.detach());  // d/dx = x (the detached factor is a constant)
  y.backward();
  EXPECT_EQ(x.grad().item(), 3.0);
}

TEST(Autograd, InPlaceOnLeafRequiringGradThrows) {
  Tensor x = ones({2}).requires_grad_();
  EXPECT_THROW(x.fill_(2.0), Error);
  {
    autograd::NoGrad ng;
    EXPECT_NO_THROW(x.fill_(2.0));
  }
}

TEST(Autograd, RetainGradOnNonLeaf) {
  Tensor x = tensor({1.0, 2.0}, {}, DType::f64).requires_grad_();
  Tensor h = mul(x, 3.0);
  autograd::retain_grad(h);
  sum(mul(h, h)).backward();
  EXPECT_EQ(h.grad().to_vector<double>(), (std::vector<double>{6.0, 12.0}));
}

TEST(Autograd, BroadcastGradientsSumBack) {
  Tensor a = randn64({3, 1}).requires_grad_();
  Tensor b = randn64({1, 4}, 2).requires_grad_();
  sum(add(a, b)).backward();
  for (double g : a.grad().to_vector<double>()) EXPECT_EQ(g, 4.0);
  for (double g : b.grad().to_vector<double>()) EXPECT_EQ(g, 3.0);
}

TEST(Autograd, ViewsAreDifferentiable) {
  Tensor x = randn64({2, 3, 4}).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    const Tensor& t = in[0];
    return mul(t.permute({2, 0, 1}).reshape({4, 6}).slice(1, 1, 6, 2).transpose(0, 1),
               t.narrow(2, 0, 1).flatten().narrow(0, 1, 4).unsqueeze(0).expand({3, 4}));
  };
  EXPECT_GRADCHECK(f, {x});
}

TEST(Autograd, CloneContiguousAndConversionAreDifferentiable) {
  Tensor x = randn64({3, 2}).requires_grad_();
  auto f = [](const std::vector<Tensor>& in) {
    return mul(in[0].transpose(0, 1).contiguous().clone(), in[0].to(DType::f32).to(DType::f64).mT());
  };
  testing::GradcheckOptions o;
  // The f32 round trip makes the second factor a staircase at f64 resolution: difference
  // over a wider step, and do not mistake the stairs for kinks.
  o.eps = 1e-3;
  o.atol = 1e-5;
  o.rtol = 1e-4;
  o.skip_kinks = false;
  EXPECT_GRADCHECK(f, {x}, o);
}

TEST(Autograd, CheckpointRecomputesAndMatches) {
  Tensor w = randn64({4}, 5).requires_grad_();
  Tensor x = randn64({3, 4}, 6).requires_grad_();
  auto segment = [&w](const std::vector<Tensor>& in) { return tanh(mul(add(in[0], w), 2.0)); };

  Tensor y1 = sum(square(segment({x})));
  y1.backward();
  Tensor gx1 = x.grad().clone(), gw1 = w.grad().clone();
  x.set_grad(Tensor());
  w.set_grad(Tensor());

  int calls = 0;
  auto counted = [&](const std::vector<Tensor>& in) {
    ++calls;
    return segment(in);
  };
  Tensor y2 = sum(square(autograd::checkpoint(counted, {x})));
  EXPECT_EQ(calls, 1);
  y2.backward();
  EXPECT_EQ(calls, 2);  // recomputed once in backward
  EXPECT_ALL_CLOSE(x.grad(), gx1, 1e-12);
  EXPECT_ALL_CLOSE(w.grad(), gw1, 1e-12);
}

TEST(Autograd, CheckpointReplaysRandomness) {
  // A segment that draws random numbers must see the same ones when recomputed.
  Tensor x = randn64({1000}).requires_grad_();
  auto noisy = [](const std::vector<Tensor>& in) { return mul(in[0], rand({1000}, DType::f64)); };
  Tensor y = autograd::checkpoint(noisy, {x});
  Tensor noise = y.detach() / x.detach();
  sum(y).backward();
  EXPECT_ALL_CLOSE(x.grad(), noise, 1e-12);
}

TEST(Autograd, CheckpointAccumulatesParameterGradsWithoutInputGrads) {
  Tensor w = randn64({4}, 5).requires_grad_();
  Tensor x = randn64({4}, 6);  // does not require grad
  Tensor y = autograd::checkpoint([&w](const std::vector<Tensor>& in) { return mul(in[0], w); }, {x});
  sum(y).backward();
  EXPECT_ALL_CLOSE(w.grad(), x, 1e-12);
}

TEST(Ops, ShapeMismatchNamesOpAndShapes) {
  try {
    add(zeros({2, 3}), zeros({4, 3}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("add"), std::string::npos) << m;
    EXPECT_NE(m.find("[2, 3]"), std::string::npos) << m;
    EXPECT_NE(m.find("[4, 3]"), std::string::npos) << m;
  }
}

TEST(Ops, DtypeMismatchNamesOpAndDtypes) {
  try {
    mul(zeros({2}), zeros({2}, DType::f64));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("mul"), std::string::npos) << m;
    EXPECT_NE(m.find("f32"), std::string::npos) << m;
    EXPECT_NE(m.find("f64"), std::string::npos) << m;
  }
}

TEST(Ops, MissingKernelNamesOpDeviceAndDtype) {
  try {
    exp(arange(3));  // no exp kernel for i64
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("'exp'"), std::string::npos) << m;
    EXPECT_NE(m.find("cpu"), std::string::npos) << m;
    EXPECT_NE(m.find("i64"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace kiln
