// The attention layer against plain loops: heads, GQA/MQA, windows, qk-norm, RoPE, ALiBi,
// document masks, explicit positions; its gradients; its hooks and the unfused path.
#include <cmath>

#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

struct Case {
  std::string name;
  AttentionConfig c;
  std::shared_ptr<Positions> pos;
  RefAttention r;
};

// An f64 attention layer with random weights and biases, and the plain-loop description.
std::shared_ptr<Attention> build(const Case& k) {
  auto a = std::make_shared<Attention>(k.c, k.pos);
  a->to(DType::f64);
  autograd::NoGrad ng;
  uint64_t seed = 100;
  for (auto& [n, p] : a->named_parameters()) {
    Tensor v = randn64(p.shape(), seed++);
    if (n.find("norm") != std::string::npos)
      v = ops::add(ops::mul(v, 0.1), 1.0);
    else
      v = ops::mul(v, 0.5);
    Tensor dst = p;
    dst.copy_(v);
  }
  return a;
}

Vec reference(const Attention& a, const Vec& x, RefAttention r) {
  const auto& c = a.config();
  r.C = c.d_model, r.H = c.n_heads, r.Hkv = c.n_kv_heads, r.D = c.head_dim;
  r.causal = c.causal, r.window = c.window, r.scale = c.scale;
  if (a.q_norm)
    r.q_norm = values(a.q_norm->weight), r.k_norm = values(a.k_norm->weight),
    r.qk_eps = c.qk_norm_eps;
  auto b = [](const std::shared_ptr<Linear>& l) {
    return l->bias.defined() ? values(l->bias) : Vec();
  };
  return ref_attention_layer(x, values(a.c_attn->weight), b(a.c_attn), values(a.c_proj->weight),
                             b(a.c_proj), r);
}

AttentionConfig cfg(int64_t d, int64_t H, int64_t Hkv = 0) {
  AttentionConfig c;
  c.d_model = d;
  c.n_heads = H;
  c.n_kv_heads = Hkv;
  return c;
}

std::vector<Case> cases() {
  std::vector<Case> v;
  v.push_back({"mha", cfg(8, 2), nullptr, {}});
  v.push_back({"gqa", cfg(16, 4, 2), nullptr, {}});
  v.push_back({"mqa", cfg(16, 4, 1), nullptr, {}});
  Case nc{"bidirectional", cfg(8, 2), nullptr, {}};
  nc.c.causal = false;
  v.push_back(nc);
  Case w{"window", cfg(8, 2), nullptr, {}};
  w.c.window = 2;
  v.push_back(w);
  Case qk{"qk_norm no bias scale", cfg(8, 2), nullptr, {}};
  qk.c.qk_norm = true;
  qk.c.bias = false;
  qk.c.scale = 0.3;
  v.push_back(qk);
  Case hd{"head_dim", cfg(8, 2), nullptr, {}};
  hd.c.head_dim = 6;
  v.push_back(hd);
  Case rope{"rope", cfg(16, 2, 1), std::make_shared<RotaryPositions>(10000.0, 1.0), {}};
  rope.r.rope_theta = 10000.0;
  v.push_back(rope);
  Case partial{"partial rope", cfg(16, 2), std::make_shared<RotaryPositions>(500.0, 0.5), {}};
  partial.r.rope_theta = 500.0;
  partial.r.rope_fraction = 0.5;
  v.push_back(partial);
  Case alibi{"alibi", cfg(16, 4), std::make_shared<AlibiPositions>(), {}};
  alibi.r.alibi = true;
  v.push_back(alibi);
  // In an encoder ALiBi is symmetric, -m |i - j|: the causal form would favour far keys after i.
  Case alibi_bi{"bidirectional alibi", cfg(16, 4), std::make_shared<AlibiPositions>(true), {}};
  alibi_bi.c.causal = false;
  alibi_bi.r.alibi = true;
  v.push_back(alibi_bi);
  return v;
}

TEST(AttentionLayer, MatchesPlainLoops) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    auto a = build(k);
    const int64_t B = 2, T = 5, C = k.c.d_model;
    Tensor x = randn64({B, T, C}, 7);
    nn::ForwardState st;
    Tensor y = a->forward(x, st);
    RefAttention r = k.r;
    r.B = B, r.T = T;
    EXPECT_ALL_CLOSE(y, from_vector(reference(*a, values(x), r), {B, T, C}), 1e-12, 1e-10);
  }
}

TEST(AttentionLayer, Gradcheck) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    auto a = build(k);
    std::vector<Tensor> in{randn64({2, 4, k.c.d_model}, 8).requires_grad_()};
    for (auto& [n, p] : a->named_parameters()) in.push_back(p);
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& v) {
          nn::ForwardState st;
          return a->forward(v[0], st);
        },
        in);
  }
}

TEST(AttentionLayer, SegmentsKeepDocumentsApart) {
  for (const Case& k : cases()) {
    if (!k.c.causal) continue;
    SCOPED_TRACE(k.name);
    auto a = build(k);
    const int64_t B = 2, T = 6, C = k.c.d_model;
    std::vector<int64_t> seg{0, 0, 0, 1, 1, 2, 5, 5, 7, 7, 7, 7};
    std::vector<int64_t> pos{0, 1, 2, 0, 1, 0, 0, 1, 0, 1, 2, 3};
    Tensor x = randn64({B, T, C}, 9);
    nn::ForwardState st;
    st.segment_ids = from_vector(seg, {B, T});
    st.positions = from_vector(pos, {B, T});
    Tensor y = a->forward(x, st);
    RefAttention r = k.r;
    r.B = B, r.T = T, r.segments = seg, r.positions = pos;
    EXPECT_ALL_CLOSE(y, from_vector(reference(*a, values(x), r), {B, T, C}), 1e-12, 1e-10);
  }
}

TEST(AttentionLayer, ExplicitPositionsEqualImplicitOnes) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    auto a = build(k);
    Tensor x = randn64({2, 5, k.c.d_model}, 10);
    nn::ForwardState implicit, bt, t;
    bt.positions = arange(5).reshape({1, 5}).expand({2, 5}).contiguous();
    t.positions = arange(5);
    Tensor y = a->forward(x, implicit);
    EXPECT_ALL_CLOSE(a->forward(x, bt), y, 1e-12, 1e-12);
    EXPECT_ALL_CLOSE(a->forward(x, t), y, 1e-12, 1e-12);
  }
}

TEST(AttentionLayer, ShiftedRopePositionsMatchPlainLoop) {
  Case k{"rope", cfg(16, 2), std::make_shared<RotaryPositions>(10000.0, 1.0), {}};
  auto a = build(k);
  std::vector<int64_t> pos{3, 4, 5, 6, 10, 11, 12, 13};
  Tensor x = randn64({2, 4, 16}, 11);
  nn::ForwardState st;
  st.positions = from_vector(pos, {2, 4});
  RefAttention r;
  r.B = 2, r.T = 4, r.rope_theta = 10000.0, r.positions = pos;
  EXPECT_ALL_CLOSE(a->forward(x, st), from_vector(reference(*a, values(x), r), {2, 4, 16}), 1e-12,
                   1e-10);
}

TEST(AttentionLayer, AlibiSlopesArePressEtAls) {
  // Powers of two: 2^(-8h/H), h = 1..H.
  EXPECT_EQ(AlibiPositions::slopes(8),
            (Vec{0.5, 0.25, 0.125, 0.0625, 1. / 32, 1. / 64, 1. / 128, 1. / 256}));
  EXPECT_EQ(AlibiPositions::slopes(2), (Vec{1. / 16, 1. / 256}));
  // H = 6: the 4 slopes of 4 heads (2^-2, 2^-4, 2^-6, 2^-8), then every other slope of 8
  // heads (2^-1, 2^-3).
  EXPECT_EQ(AlibiPositions::slopes(6), (Vec{0.25, 1. / 16, 1. / 64, 1. / 256, 0.5, 0.125}));
}

TEST(AttentionLayer, GradcheckWithSegmentsAndDropoutOff) {
  Case k{"gqa rope", cfg(16, 4, 2), std::make_shared<RotaryPositions>(10000.0, 1.0), {}};
  auto a = build(k);
  std::vector<Tensor> in{randn64({2, 4, 16}, 12).requires_grad_()};
  for (auto& [n, p] : a->named_parameters()) in.push_back(p);
  Tensor seg = from_vector(std::vector<int64_t>{0, 0, 1, 1, 0, 1, 1, 1}, {2, 4});
  Tensor pos = from_vector(std::vector<int64_t>{0, 1, 0, 1, 0, 0, 1, 2}, {2, 4});
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        nn::ForwardState st;
        st.segment_ids = seg;
        st.positions = pos;
        return a->forward(v[0], st);
      },
      in);
}

TEST(AttentionLayer, HooksSeeTransformerLensShapes) {
  Case k{"gqa rope", cfg(16, 4, 2), std::make_shared<RotaryPositions>(10000.0, 1.0), {}};
  auto a = build(k);
  std::map<std::string, Shape> seen;
  std::vector<nn::ScopedHook> hooks;
  for (auto& [name, h] : a->named_hook_points())
    hooks.emplace_back(*h, [&](const Tensor& t, const std::string& n) {
      seen[n] = t.shape();
      return t;
    });
  Tensor x = randn64({2, 5, 16}, 13);
  nn::ForwardState st;
  a->forward(x, st);
  EXPECT_EQ(seen["hook_q"], (Shape{2, 5, 4, 4}));
  EXPECT_EQ(seen["hook_k"], (Shape{2, 5, 2, 4}));
  EXPECT_EQ(seen["hook_v"], (Shape{2, 5, 2, 4}));
  EXPECT_EQ(seen["hook_rot_q"], (Shape{2, 5, 4, 4}));
  EXPECT_EQ(seen["hook_rot_k"], (Shape{2, 5, 2, 4}));
  EXPECT_EQ(seen["hook_attn_scores"], (Shape{2, 4, 5, 5}));
  EXPECT_EQ(seen["hook_pattern"], (Shape{2, 4, 5, 5}));
  EXPECT_EQ(seen["hook_z"], (Shape{2, 5, 4, 4}));
}

TEST(AttentionLayer, UnfusedPathEqualsFusedWithItsGradients) {
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    auto a = build(k);
    Tensor x = randn64({2, 5, k.c.d_model}, 14).requires_grad_();
    nn::ForwardState st;
    Tensor fused = a->forward(x, st);
    Tensor w = randn64(fused.shape(), 15);
    ops::sum(ops::mul(fused, w)).backward();
    Tensor g_fused = x.grad(), gw_fused = a->c_attn->weight.grad().clone();
    x.set_grad(Tensor());
    a->zero_grad();
    Tensor scores;
    nn::ScopedHook h(a->hook_point("hook_attn_scores"), [&](const Tensor& t, const std::string&) {
      scores = t;
      return t;
    });
    Tensor unfused = a->forward(x, st);
    EXPECT_ALL_CLOSE(unfused, fused, 1e-12, 1e-10);
    ops::sum(ops::mul(unfused, w)).backward();
    EXPECT_ALL_CLOSE(x.grad(), g_fused, 1e-12, 1e-10);
    EXPECT_ALL_CLOSE(a->c_attn->weight.grad(), gw_fused, 1e-12, 1e-10);
    if (k.c.causal) {  // masked scores are -inf, as TransformerLens shows them
      EXPECT_TRUE(std::isinf(scores.select(2, 0).select(2, 1).select(1, 0).select(0, 0).item()));
    }
  }
}

TEST(AttentionLayer, TapedHeadsEqualTheFusedNodeWithItsGradients) {
  // A hook on hook_q sends training through the view-by-view path; without hooks the heads
  // are one node (heads_fused). Both must give the same values and gradients.
  for (const Case& k : cases()) {
    SCOPED_TRACE(k.name);
    auto a = build(k);
    Tensor x = randn64({2, 5, k.c.d_model}, 18).requires_grad_();
    Tensor w = randn64({2, 5, k.c.d_model}, 19);
    nn::ForwardState st;
    ops::sum(ops::mul(a->forward(x, st), w)).backward();
    std::vector<Tensor> fused{x.grad()};
    for (auto& [n, p] : a->named_parameters()) fused.push_back(p.grad());
    x.set_grad(Tensor());
    a->zero_grad();
    nn::ScopedHook h(a->hook_point("hook_q"),
                     [](const Tensor& t, const std::string&) { return t; });
    ops::sum(ops::mul(a->forward(x, st), w)).backward();
    std::vector<Tensor> taped{x.grad()};
    for (auto& [n, p] : a->named_parameters()) taped.push_back(p.grad());
    for (size_t i = 0; i < fused.size(); ++i)
      EXPECT_ALL_CLOSE(taped[i], fused[i], 1e-12, 1e-10) << i;
  }
}

TEST(AttentionLayer, ReplacingThePatternChangesTheOutputAsPredicted) {
  // Each query attends only to itself: z = v of its own position (head h reads kv head
  // h / (H / Hkv)), so the output is c_proj(v of the query's group).
  Case k{"gqa", cfg(16, 4, 2), nullptr, {}};
  auto a = build(k);
  const int64_t B = 2, T = 5;
  Tensor v_seen;
  nn::ScopedHook hv(a->hook_point("hook_v"), [&](const Tensor& t, const std::string&) {
    v_seen = t;
    return t;
  });
  nn::ScopedHook hp(a->hook_point("hook_pattern"), [&](const Tensor& t, const std::string&) {
    Tensor eye = ops::tril(ops::triu(ones({T, T}, DType::f64)));
    return eye.expand(t.shape()).contiguous();
  });
  Tensor x = randn64({B, T, 16}, 16);
  nn::ForwardState st;
  Tensor y = a->forward(x, st);
  // z [B, T, H, D]: head h copies kv head h / 2.
  Vec v = values(v_seen), z(size_t(B * T * 4 * 4));
  for (int64_t bt = 0; bt < B * T; ++bt)
    for (int64_t h = 0; h < 4; ++h)
      for (int64_t d = 0; d < 4; ++d)
        z[size_t((bt * 4 + h) * 4 + d)] = v[size_t((bt * 2 + h / 2) * 4 + d)];
  Vec want = ref_linear(z, values(a->c_proj->weight), values(a->c_proj->bias), B * T, 16, 16);
  EXPECT_ALL_CLOSE(y, from_vector(want, {B, T, 16}), 1e-12, 1e-12);
}

TEST(AttentionLayer, KVCachePrefillThenStepsEqualsOneForward) {
  for (const Case& k : cases()) {
    if (!k.c.causal) continue;
    SCOPED_TRACE(k.name);
    auto a = build(k);
    a->set_cache_slot(0);
    const int64_t B = 2, T = 7, C = k.c.d_model;
    Tensor x = randn64({B, T, C}, 17);
    nn::ForwardState full;
    Tensor want = a->forward(x, full);
    nn::KVCache cache;
    cache.layers.push_back(a->make_cache_entry(B, 9, DType::f64));
    cache.capacity = 9;
    nn::ForwardState st;
    st.cache = &cache;
    std::vector<Tensor> parts{a->forward(x.narrow(1, 0, 4), st)};
    cache.length = 4;  // the model advances the cache; here we do
    for (int64_t t = 4; t < T; ++t) {
      parts.push_back(a->forward(x.narrow(1, t, 1), st));
      cache.length += 1;
    }
    EXPECT_ALL_CLOSE(ops::concat(parts, 1), want, 1e-12, 1e-10);
  }
}

TEST(AttentionLayer, ErrorsNameTheProblem) {
  EXPECT_THROW(Attention(cfg(8, 3), nullptr), Error);  // 8 is not a multiple of 3
  try {
    Attention(cfg(8, 4, 3), nullptr);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n_kv_heads (3) must divide n_heads (4)"),
              std::string::npos)
        << e.what();
  }
  Attention a(cfg(8, 2), nullptr);
  nn::ForwardState st;
  try {
    a.forward(randn({2, 3, 6}), st);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("expected input [B, T, 8], got [2, 3, 6]"),
              std::string::npos)
        << e.what();
  }
  a.set_cache_slot(0);
  nn::KVCache cache;
  cache.layers.push_back(a.make_cache_entry(1, 2, DType::f32));
  st.cache = &cache;
  try {
    a.forward(randn({1, 3, 8}), st);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(
                  "the KV cache holds 2 positions; 0 are filled and this forward adds 3"),
              std::string::npos)
        << e.what();
  }
  try {
    make(
        R"({"@component": "layer.attention", "d_model": 8, "n_heads": 2, "pos": {"@component": "layer.learned", "context": 8, "d_model": 8}})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("give learned{} to the model"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace kiln::layers::testing
