// The decoder model: built from configs, hook names, tied and untied heads, positions, packed
// documents, the KV cache, gradients, parameter counts and FLOPs.
#include <cmath>
#include <set>

#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

std::shared_ptr<Decoder> decoder(const std::string& extra, DType dtype = DType::f64) {
  auto m = std::dynamic_pointer_cast<Decoder>(make_model(
      R"({"@component": "model.decoder", "vocab": 11, "d_model": 16, "n_layers": 2, "n_heads": 4,
          "context": 32)" +
      extra + "}"));
  EXPECT_TRUE(m);
  m->to(dtype);
  return m;
}

const char* kPositions[] = {
    R"(, "pos": {"@component": "layer.learned"})",
    R"(, "pos": {"@component": "layer.sinusoidal"})",
    R"(, "pos": {"@component": "layer.rope", "theta": 100})",
    R"(, "pos": {"@component": "layer.alibi"})",
    R"(, "pos": {"@component": "layer.nope"})",
    R"(, "pos": {"@component": "layer.rope"}, "n_kv_heads": 2, "norm": {"@component": "layer.rms_norm"},
       "activation": "swiglu", "bias": false, "tie_embeddings": false, "init": "llama")",
    R"(, "blocks": [{"@component": "layer.block", "attn": {"@component": "layer.attention", "window": 3}},
                    {"@component": "layer.block"}])",
};

TEST(Decoder, HookNamesAreTransformerLens) {
  auto m = decoder("");
  std::set<std::string> names;
  for (auto& [n, h] : m->named_hook_points()) names.insert(n);
  std::vector<std::string> want{"hook_embed", "hook_pos_embed", "ln_final.hook_normalized"};
  for (int i = 0; i < 2; ++i) {
    std::string b = "blocks." + std::to_string(i) + ".";
    for (const char* s : {"hook_resid_pre", "ln1.hook_normalized", "attn.hook_q", "attn.hook_k",
                          "attn.hook_v", "attn.hook_attn_scores", "attn.hook_pattern",
                          "attn.hook_z", "hook_attn_out", "hook_resid_mid", "ln2.hook_normalized",
                          "mlp.hook_pre", "mlp.hook_post", "hook_mlp_out", "hook_resid_post"})
      want.push_back(b + s);
  }
  for (const auto& w : want) EXPECT_TRUE(names.count(w)) << w;
  EXPECT_EQ(names.size(), want.size());

  // Every hook point is reached by a forward, in the order of the module tree.
  std::vector<std::string> order;
  std::vector<nn::ScopedHook> hooks;
  for (auto& [n, h] : m->named_hook_points())
    hooks.emplace_back(*h, [&](const Tensor& t, const std::string& name) {
      order.push_back(name);
      return t;
    });
  nn::ForwardState st;
  m->forward(random_ids(11, {2, 5}, 1), st);
  EXPECT_EQ(std::set<std::string>(order.begin(), order.end()), names);
  EXPECT_EQ(order.front(), "hook_embed");
  EXPECT_EQ(order.back(), "ln_final.hook_normalized");
}

TEST(Decoder, ParameterNames) {
  auto m = decoder("");
  std::vector<std::string> names;
  for (auto& [n, p] : m->named_parameters()) names.push_back(n);
  std::vector<std::string> want{"wte.weight", "wpe.weight"};
  for (int i = 0; i < 2; ++i)
    for (const char* s :
         {"ln1.weight", "ln1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
          "attn.c_proj.bias", "ln2.weight", "ln2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
          "mlp.c_proj.weight", "mlp.c_proj.bias"})
      want.push_back("blocks." + std::to_string(i) + "." + s);
  want.push_back("ln_final.weight");
  want.push_back("ln_final.bias");
  EXPECT_EQ(names, want);
}

TEST(Decoder, TiedAndUntiedHeads) {
  for (bool tied : {true, false}) {
    auto m = decoder(tied ? "" : R"(, "tie_embeddings": false)");
    EXPECT_EQ(m->lm_head == nullptr, tied);
    Tensor ids = random_ids(11, {2, 4}, 2);
    nn::ForwardState st;
    Tensor h = m->hidden(ids, st);
    nn::ForwardState st2;
    Tensor logits = m->forward(ids, st2);
    const Tensor& head = tied ? Tensor(m->wte->weight) : Tensor(m->lm_head->weight);
    Vec want = ref_linear(values(h), values(head), {}, 8, 16, 11);
    EXPECT_ALL_CLOSE(logits, from_vector(want, {2, 4, 11}), 1e-12, 1e-12);
    int64_t table = 11 * 16;
    bool has_head = false;
    for (auto& [n, p] : m->named_parameters()) has_head |= n == "lm_head.weight";
    EXPECT_EQ(has_head, !tied);
    // The head's gradient reaches the embedding when tied.
    ops::sum(logits).backward();
    EXPECT_TRUE(m->wte->weight.grad().defined());
    (void)table;
  }
}

TEST(Decoder, EmbeddingAndPositionsAreAdded) {
  auto m = decoder("");
  Tensor ids = token_ids({3, 1, 4, 1, 5, 9}, {2, 3});
  Tensor embed, pos;
  nn::ScopedHook a(m->hook_point("hook_embed"),
                   [&](const Tensor& t, const std::string&) { return embed = t; });
  nn::ScopedHook b(m->hook_point("hook_pos_embed"),
                   [&](const Tensor& t, const std::string&) { return pos = t; });
  Tensor resid;
  nn::ScopedHook c(m->hook_point("blocks.0.hook_resid_pre"),
                   [&](const Tensor& t, const std::string&) { return resid = t; });
  nn::ForwardState st;
  m->forward(ids, st);
  Vec wte = values(m->wte->weight),
      wpe = values(std::dynamic_pointer_cast<LearnedPositions>(m->wpe)->weight);
  Vec want(2 * 3 * 16);
  std::vector<int64_t> id{3, 1, 4, 1, 5, 9};
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t d = 0; d < 16; ++d)
      want[size_t(r * 16 + d)] =
          wte[size_t(id[size_t(r)] * 16 + d)] + wpe[size_t((r % 3) * 16 + d)];
  EXPECT_ALL_CLOSE(resid, from_vector(want, {2, 3, 16}), 1e-15, 0);
  EXPECT_EQ(pos.shape(), (Shape{3, 16}));
}

TEST(Decoder, SinusoidalTableIsVaswanis) {
  SinusoidalPositions s(10, 6, 10000.0);
  PositionInfo w;
  w.T = 10;
  Tensor t = s.embed(w);
  for (int64_t p : {0, 1, 7})
    for (int64_t i = 0; i < 3; ++i) {
      double angle = double(p) / std::pow(10000.0, 2.0 * double(i) / 6.0);
      EXPECT_NEAR(t.select(0, p).select(0, 2 * i).item(), std::sin(angle), 1e-7);
      EXPECT_NEAR(t.select(0, p).select(0, 2 * i + 1).item(), std::cos(angle), 1e-7);
    }
}

TEST(Decoder, PackedDocumentsEqualDocumentsAlone) {
  for (const char* pos : kPositions) {
    SCOPED_TRACE(pos);
    auto m = decoder(pos);
    Tensor doc1 = random_ids(11, {1, 3}, 3), doc2 = random_ids(11, {1, 4}, 4),
           doc3 = random_ids(11, {1, 2}, 5);
    Tensor packed = ops::concat({doc1, doc2, doc3}, 1);
    nn::ForwardState st;
    st.segment_ids = token_ids({0, 0, 0, 1, 1, 1, 1, 2, 2}, {1, 9});
    st.positions = token_ids({0, 1, 2, 0, 1, 2, 3, 0, 1}, {1, 9});
    Tensor logits = m->forward(packed, st);
    int64_t at = 0;
    for (const Tensor& d : {doc1, doc2, doc3}) {
      nn::ForwardState alone;
      EXPECT_ALL_CLOSE(logits.narrow(1, at, d.size(1)), m->forward(d, alone), 1e-12, 1e-10);
      at += d.size(1);
    }
  }
}

TEST(Decoder, KVCacheStepsEqualFullForward) {
  for (const char* pos : kPositions) {
    SCOPED_TRACE(pos);
    auto m = decoder(pos);
    Tensor ids = random_ids(11, {2, 9}, 6);
    nn::ForwardState full;
    Tensor want = m->forward(ids, full);
    nn::KVCache cache = m->make_cache(2, 12);
    EXPECT_EQ(cache.layers.size(), 2u);
    nn::ForwardState st;
    st.cache = &cache;
    std::vector<Tensor> parts{m->forward(ids.narrow(1, 0, 5), st)};
    EXPECT_EQ(cache.length, 5);
    for (int64_t t = 5; t < 9; ++t) parts.push_back(m->forward(ids.narrow(1, t, 1), st));
    EXPECT_EQ(cache.length, 9);
    EXPECT_ALL_CLOSE(ops::concat(parts, 1), want, 1e-12, 1e-10);
  }
}

TEST(Decoder, GradcheckTinyModels) {
  for (const char* pos : kPositions) {
    SCOPED_TRACE(pos);
    auto m = std::dynamic_pointer_cast<Decoder>(make_model(
        R"({"@component": "model.decoder", "vocab": 7, "d_model": 8, "n_layers": 2, "n_heads": 2,
            "context": 8, "d_mlp": 12)" +
        std::string(pos) + "}"));
    m->to(DType::f64);
    Tensor ids = random_ids(7, {2, 4}, 7);
    std::vector<Tensor> params = m->parameters();
    GradcheckOptions o;
    o.rtol = 1e-4;
    o.max_per_input = 24;  // every parameter tensor, 24 coordinates of each
    EXPECT_TRUE(gradcheck(
        [&](const std::vector<Tensor>&) {
          nn::ForwardState st;
          return m->forward(ids, st);
        },
        params, o));
  }
}

TEST(Decoder, BlocksMayDifferByLayer) {
  auto m = decoder(R"(, "n_layers": 4, "blocks": [
      {"@component": "layer.block", "attn": {"@component": "layer.attention", "window": 4}},
      {"@component": "layer.block", "n_heads": 2, "d_mlp": 8}])");
  ASSERT_EQ(m->attention_layers().size(), 4u);
  for (size_t i = 0; i < 4; ++i) {
    const Attention* a = m->attention_layers()[i];
    EXPECT_EQ(a->cache_slot(), int64_t(i));
    EXPECT_EQ(a->config().window, i % 2 == 0 ? 4 : 0);
    EXPECT_EQ(a->config().n_heads, i % 2 == 0 ? 4 : 2);
  }
  EXPECT_THROW(
      decoder(
          R"(, "n_layers": 3, "blocks": [{"@component": "layer.block"}, {"@component": "layer.block"}])"),
      Error);
}

TEST(Decoder, InitIsGpt2s) {
  // GPT-2: weights normal(0, 0.02), residual projections normal(0, 0.02 / sqrt(2 L)), biases 0,
  // norms 1 and 0. A 12-layer model has enough weights to measure the std.
  auto m = std::dynamic_pointer_cast<Decoder>(make_model(
      R"({"@component": "model.decoder", "vocab": 64, "d_model": 64, "n_layers": 8, "n_heads": 4})"));
  auto std_of = [](const Tensor& t) { return std::sqrt(ops::mean(ops::square(t)).item()); };
  EXPECT_NEAR(std_of(m->wte->weight), 0.02, 0.001);
  auto b0 = std::dynamic_pointer_cast<Block>(
      (*std::dynamic_pointer_cast<nn::ModuleList>(m->named_children()[2].second))[0]);
  ASSERT_TRUE(b0);
  auto attn = std::dynamic_pointer_cast<Attention>(b0->attn);
  auto mlp = std::dynamic_pointer_cast<MLP>(b0->mlp);
  EXPECT_NEAR(std_of(attn->c_attn->weight), 0.02, 0.001);
  EXPECT_NEAR(std_of(attn->c_proj->weight), 0.02 / 4.0, 0.0005);  // sqrt(2 * 8) = 4
  EXPECT_NEAR(std_of(mlp->c_proj->weight), 0.02 / 4.0, 0.0005);
  EXPECT_EQ(ops::max(ops::abs(attn->c_attn->bias)).item(), 0.0);
  auto ln = std::dynamic_pointer_cast<LayerNorm>(b0->ln1);
  EXPECT_EQ(ops::min(ln->weight).item(), 1.0);
}

TEST(Decoder, Gpt2SmallHas124439808Parameters) {
  auto m =
      make_model(R"({"@component": "model.decoder", "vocab": 50257, "d_model": 768, "n_layers": 12,
                          "n_heads": 12, "context": 1024, "activation": "gelu_tanh"})");
  EXPECT_EQ(m->num_parameters(), 124439808);
  // PaLM's 6 N + 12 L H Q T, N without the position table (wte is the head's matmul).
  const double n = 124439808.0 - 1024.0 * 768.0;
  EXPECT_DOUBLE_EQ(m->train_flops_per_token(1024), 6 * n + 12.0 * 12 * 768 * 1024);
}

TEST(Decoder, LlamaParameterCountFormula) {
  const int64_t V = 100, d = 64, L = 3, H = 4, Hkv = 2, D = d / H, m = 32;
  auto model =
      make_model(R"({"@component": "model.decoder", "vocab": 100, "d_model": 64, "n_layers": 3,
      "n_heads": 4, "n_kv_heads": 2, "activation": "swiglu", "bias": false, "tie_embeddings": false,
      "norm": {"@component": "layer.rms_norm"}, "pos": {"@component": "layer.rope"}, "init": "llama",
      "block": {"@component": "layer.block", "mlp": {"@component": "layer.mlp", "multiple_of": 32}}})");
  const int64_t F = ((8 * d / 3) + m - 1) / m * m;  // 170 -> 192
  EXPECT_EQ(F, 192);
  const int64_t per_layer = 2 * d + d * (H + 2 * Hkv) * D + H * D * d + 3 * d * F;
  EXPECT_EQ(model->num_parameters(), V * d + L * per_layer + d + V * d);
  // Untied: the input table is a lookup and leaves N; the head stays.
  EXPECT_DOUBLE_EQ(model->train_flops_per_token(16),
                   6.0 * double(L * per_layer + d + V * d) + 12.0 * L * H * D * 16);
}

TEST(Decoder, RunsInHalfPrecision) {
  for (const char* pos : kPositions) {
    for (DType half : {DType::bf16, DType::f16}) {
      SCOPED_TRACE(std::string(pos) + " " + dtype_name(half));
      auto m = decoder(std::string(pos) + R"(, "init_std": 0.2)", DType::f32);
      Tensor ids = random_ids(11, {2, 6}, 10);
      nn::ForwardState a;
      Tensor want = m->forward(ids, a);
      m->to(half);
      nn::ForwardState b;
      Tensor got = m->forward(ids, b);
      EXPECT_EQ(got.dtype(), half);
      EXPECT_TRUE(all_close(got.to(DType::f32), want, 0.1, 0.05));
      ops::cross_entropy(got, random_ids(11, {2, 6}, 11)).backward();
      for (auto& [n, p] : m->named_parameters()) {
        ASSERT_TRUE(p.grad().defined()) << n;
        EXPECT_TRUE(std::isfinite(ops::sum(ops::abs(p.grad().to(DType::f32))).item())) << n;
      }
    }
  }
}

TEST(Decoder, DropoutOnlyInTraining) {
  auto m = decoder(R"(, "dropout": 0.3)");
  Tensor ids = random_ids(11, {2, 6}, 8);
  m->eval();
  nn::ForwardState a, b;
  Tensor e = m->forward(ids, a);
  EXPECT_ALL_CLOSE(m->forward(ids, b), e, 0, 0);
  m->train();
  Generator g(3);
  nn::ForwardState c;
  c.generator = &g;
  EXPECT_FALSE(all_close(m->forward(ids, c), e, 1e-6, 1e-6));
}

TEST(Decoder, ErrorsNameTheField) {
  auto m = decoder("");
  nn::ForwardState st;
  try {
    m->forward(random_ids(11, {1, 33}, 9), st);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("33 tokens exceed the model's context of 32"),
              std::string::npos)
        << e.what();
  }
  try {
    make_model(R"({"@component": "model.decoder", "vocab": 11, "d_model": 16, "n_heads": 4})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("set n_layers"), std::string::npos) << e.what();
  }
  try {
    make_model(R"({"@component": "model.decoder", "vocab": 11, "d_model": 16, "n_layers": 1})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"n_heads\" is not set"), std::string::npos) << e.what();
  }
  try {
    make_model(
        R"({"@component": "model.decoder", "vocab": 11, "d_model": 16, "n_layers": 1, "n_heads": 4,
                   "block": {"@component": "layer.block", "d_model": 8}})");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("a layer cannot change it (got 8)"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(m->make_cache(1, 33), Error);
}

}  // namespace
}  // namespace kiln::layers::testing
