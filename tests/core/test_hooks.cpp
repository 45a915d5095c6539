// Hook points: dotted names, reading and replacing activations, removal, zero cost when unset.
#include <gtest/gtest.h>

#include "core/nn/module.h"
#include "tests/core/test_util.h"

namespace kiln {
namespace {

struct Inner : nn::Module {
  nn::HookPoint& hook_out = register_hook("hook_out");
  Tensor forward(const Tensor& x) { return hook_out(ops::mul(x, 2.0)); }
};

struct Outer : nn::Module {
  nn::HookPoint& hook_in = register_hook("hook_in");
  std::shared_ptr<nn::ModuleList> blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  Outer() {
    blocks->push_back(std::make_shared<Inner>());
    blocks->push_back(std::make_shared<Inner>());
  }
  Tensor forward(const Tensor& x) {
    Tensor h = hook_in(x);
    for (size_t i = 0; i < blocks->size(); ++i) h = blocks->at<Inner>(i)->forward(h);
    return h;
  }
};

TEST(Hooks, DottedNamesInRegistrationOrder) {
  Outer m;
  auto points = m.named_hook_points();
  ASSERT_EQ(points.size(), 3u);
  EXPECT_EQ(points[0].first, "hook_in");
  EXPECT_EQ(points[1].first, "blocks.0.hook_out");
  EXPECT_EQ(points[2].first, "blocks.1.hook_out");
  EXPECT_EQ(m.hook_point("blocks.1.hook_out").name(), "blocks.1.hook_out");
  try {
    m.hook_point("blocks.7.hook_out");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("closest"), std::string::npos) << e.what();
  }
}

TEST(Hooks, NoHookMeansTheSameTensor) {
  Outer m;
  Tensor x = ones({3});
  EXPECT_TRUE(m.hook_in(x).is_same(x));
}

TEST(Hooks, ReadAndReplaceAsComputedByHand) {
  Outer m;
  m.named_hook_points();
  Tensor seen;
  {
    nn::ScopedHook read(m.hook_point("blocks.0.hook_out"), [&](const Tensor& x, const std::string& name) {
      EXPECT_EQ(name, "blocks.0.hook_out");
      seen = x;
      return x;
    });
    nn::ScopedHook replace(m.hook_point("hook_in"), [](const Tensor& x, const std::string&) { return ops::add(x, 1.0); });
    Tensor y = m.forward(tensor({1.0, 2.0}));
    // (x + 1) * 2 * 2
    EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{8, 12}));
    EXPECT_EQ(seen.to_vector<float>(), (std::vector<float>{4, 6}));
  }
  // Out of scope: the hooks are gone.
  EXPECT_EQ(m.forward(tensor({1.0, 2.0})).to_vector<float>(), (std::vector<float>{4, 8}));
  EXPECT_FALSE(m.hook_point("hook_in").active());
}

TEST(Hooks, ReplacementMustKeepTheShape) {
  Outer m;
  nn::ScopedHook bad(m.hook_point("hook_in"), [](const Tensor&, const std::string&) { return zeros({5}); });
  EXPECT_THROW(m.forward(zeros({2})), Error);
}

}  // namespace
}  // namespace kiln
