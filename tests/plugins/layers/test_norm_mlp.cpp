// Norms and MLPs against plain loops, their gradients, and activation layers from a plugin.
#include <cmath>

#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

nn::ForwardState no_state() {
  return {};
}

TEST(LayerNormLayer, MatchesPlainLoopWithAndWithoutBias) {
  for (bool bias : {true, false}) {
    LayerNorm ln(6, bias, 1e-5);
    ln.to(DType::f64);
    {
      autograd::NoGrad ng;
      ln.weight.copy_(randn64({6}, 3));
      if (bias) ln.bias.copy_(randn64({6}, 4));
    }
    Tensor x = randn64({2, 3, 6}, 5);
    nn::ForwardState st;
    Tensor y = ln.forward(x, st);
    Vec want =
        ref_layer_norm(values(x), values(ln.weight), bias ? values(ln.bias) : Vec(), 6, 1e-5);
    EXPECT_ALL_CLOSE(y, from_vector(want, {2, 3, 6}), 1e-12, 1e-12);
    EXPECT_EQ(ln.named_parameters().size(), bias ? 2u : 1u);
  }
}

TEST(LayerNormLayer, Gradcheck) {
  LayerNorm ln(5, true, 1e-5);
  ln.to(DType::f64);
  Tensor x = randn64({3, 5}, 7).requires_grad_();
  std::vector<Tensor> in{x, ln.weight, ln.bias};
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        auto st = no_state();
        return ln.forward(v[0], st);
      },
      in);
}

TEST(RMSNormLayer, MatchesPlainLoopAndGradcheck) {
  RMSNorm n(6, 1e-6);
  n.to(DType::f64);
  {
    autograd::NoGrad ng;
    n.weight.copy_(randn64({6}, 8));
  }
  Tensor x = randn64({4, 6}, 9);
  nn::ForwardState st;
  EXPECT_ALL_CLOSE(n.forward(x, st),
                   from_vector(ref_rms_norm(values(x), values(n.weight), 6, 1e-6), {4, 6}), 1e-12,
                   1e-12);
  Tensor xg = x.clone().requires_grad_();
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        auto s = no_state();
        return n.forward(v[0], s);
      },
      {xg, n.weight});
}

TEST(NormLayers, HookNormalizedSeesTheOutput) {
  LayerNorm ln(4, true, 1e-5);
  Tensor seen;
  nn::ScopedHook h(ln.hook_point("hook_normalized"), [&](const Tensor& t, const std::string&) {
    seen = t;
    return t;
  });
  Tensor x = randn({2, 4});
  nn::ForwardState st;
  Tensor y = ln.forward(x, st);
  ASSERT_TRUE(seen.defined());
  EXPECT_ALL_CLOSE(seen, y, 0, 0);
}

// The activations by their formulas.
double act(const std::string& name, double x) {
  if (name == "gelu" || name == "geglu") return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
  if (name == "gelu_tanh")
    return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
  if (name == "relu") return x > 0 ? x : 0;
  if (name == "silu" || name == "swiglu") return x / (1 + std::exp(-x));
  if (name == "square") return x * x;
  ADD_FAILURE() << name;
  return 0;
}

// Plain MLP: c_proj(act(c_fc(x))); gated: down(act(gate(x)) * up(x)).
Vec ref_mlp(const MLP& m, const Vec& x, int64_t N, const std::string& name) {
  const int64_t d = m.config().d_model, F = m.config().d_mlp;
  auto b = [](const std::shared_ptr<Linear>& l) {
    return l->bias.defined() ? values(l->bias) : Vec();
  };
  if (m.gated()) {
    Vec g = ref_linear(x, values(m.gate_proj->weight), b(m.gate_proj), N, d, F);
    Vec u = ref_linear(x, values(m.up_proj->weight), b(m.up_proj), N, d, F);
    for (size_t i = 0; i < g.size(); ++i) g[i] = act(name, g[i]) * u[i];
    return ref_linear(g, values(m.down_proj->weight), b(m.down_proj), N, F, d);
  }
  Vec h = ref_linear(x, values(m.c_fc->weight), b(m.c_fc), N, d, F);
  for (double& v : h) v = act(name, v);
  return ref_linear(h, values(m.c_proj->weight), b(m.c_proj), N, F, d);
}

TEST(MLPLayer, EveryActivationMatchesPlainLoopAndGradcheck) {
  for (const std::string name : {"gelu", "gelu_tanh", "relu", "silu", "swiglu", "geglu"}) {
    for (bool bias : {true, false}) {
      SCOPED_TRACE(name + (bias ? " with bias" : " without bias"));
      MLPConfig c;
      c.d_model = 4;
      c.d_mlp = 6;
      c.activation = parse_activation(name);
      c.bias = bias;
      MLP m(c, nullptr);
      m.to(DType::f64);
      EXPECT_EQ(m.gated(), name == "swiglu" || name == "geglu");
      Tensor x = randn64({2, 3, 4}, 11);
      nn::ForwardState st;
      Tensor y = m.forward(x, st);
      EXPECT_ALL_CLOSE(y, from_vector(ref_mlp(m, values(x), 6, name), {2, 3, 4}), 1e-12, 1e-10);
      std::vector<Tensor> in{x.clone().requires_grad_()};
      for (auto& [n, p] : m.named_parameters()) in.push_back(p);
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& v) {
            auto s = no_state();
            return m.forward(v[0], s);
          },
          in);
    }
  }
}

TEST(MLPLayer, ParameterNamesFollowHuggingFace) {
  MLPConfig c;
  c.d_model = 8;
  MLP plain(c, nullptr);
  std::vector<std::string> names;
  for (auto& [n, p] : plain.named_parameters()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"c_fc.weight", "c_fc.bias", "c_proj.weight", "c_proj.bias"}));
  EXPECT_EQ(plain.config().d_mlp, 32);  // 4 d_model
  c.activation = Activation::swiglu;
  c.bias = false;
  c.multiple_of = 16;
  MLP gated(c, nullptr);
  names.clear();
  for (auto& [n, p] : gated.named_parameters()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"gate_proj.weight", "up_proj.weight", "down_proj.weight"}));
  EXPECT_EQ(gated.config().d_mlp, 32);  // 8 * 8 / 3 = 21, rounded up to 16s
}

TEST(MLPLayer, ActivationLayerFromAnotherPlugin) {
  for (bool gated : {false, true}) {
    auto layer = make(
        std::string(R"({"@component": "layer.mlp", "d_model": 4, "d_mlp": 5, "gated": )") +
        (gated ? "true" : "false") + R"(, "activation": {"@component": "layer.test_square"}})");
    auto m = std::dynamic_pointer_cast<MLP>(layer);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->gated(), gated);
    m->to(DType::f64);
    Tensor x = randn64({3, 4}, 12);
    nn::ForwardState st;
    EXPECT_ALL_CLOSE(m->forward(x, st), from_vector(ref_mlp(*m, values(x), 3, "square"), {3, 4}),
                     1e-12, 1e-10);
  }
}

TEST(MLPLayer, BadActivationNamesTheChoices) {
  try {
    make(R"({"@component": "layer.mlp", "d_model": 4, "activation": "swishglu"})");
    FAIL() << "expected an error";
  } catch (const Error& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("model.activation"), std::string::npos) << msg;
    EXPECT_NE(msg.find("unknown activation \"swishglu\" (did you mean \"swiglu\"?)"),
              std::string::npos)
        << msg;
  }
  EXPECT_THROW(make(R"({"@component": "layer.mlp", "d_model": 4, "gated": true})"), Error);
}

TEST(BlockLayer, PreAndPostNormMatchTheirCompositions) {
  for (const char* position : {"pre", "post"}) {
    SCOPED_TRACE(position);
    auto layer =
        make(std::string(R"({"@component": "layer.block", "d_model": 4, "n_heads": 2, "d_mlp": 4,
                                       "norm_position": ")") +
             position + "\"}");
    auto b = std::dynamic_pointer_cast<Block>(layer);
    ASSERT_TRUE(b);
    b->to(DType::f64);
    Tensor x = randn64({2, 3, 4}, 13);
    nn::ForwardState st;
    Tensor y = b->forward(x, st);
    Tensor want;
    if (std::string(position) == "pre") {
      Tensor h = ops::add(x, b->attn->forward(b->ln1->forward(x, st), st));
      want = ops::add(h, b->mlp->forward(b->ln2->forward(h, st), st));
    } else {
      Tensor h = b->ln1->forward(ops::add(x, b->attn->forward(x, st)), st);
      want = b->ln2->forward(ops::add(h, b->mlp->forward(h, st)), st);
    }
    EXPECT_ALL_CLOSE(y, want, 1e-14, 1e-12);
    std::vector<Tensor> in{x.clone().requires_grad_()};
    for (auto& [n, p] : b->named_parameters()) in.push_back(p);
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& v) {
          auto s = no_state();
          return b->forward(v[0], s);
        },
        in);
  }
}

TEST(BlockLayer, ResidualDropoutOnlyInTraining) {
  auto b = make(R"({"@component": "layer.block", "d_model": 8, "n_heads": 2, "dropout": 0.5})");
  Tensor x = randn({2, 3, 8});
  nn::ForwardState st;
  b->eval();
  Tensor e1 = b->forward(x, st), e2 = b->forward(x, st);
  EXPECT_ALL_CLOSE(e1, e2, 0, 0);
  b->train();
  Generator g(1);
  st.generator = &g;
  Tensor t1 = b->forward(x, st);
  EXPECT_FALSE(all_close(t1, e1, 1e-6, 1e-6));
}

}  // namespace
}  // namespace kiln::layers::testing
