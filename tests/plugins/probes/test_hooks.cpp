// Acceptance 1 of the probes issue: hooks and the activation cache are exact.
#include <cmath>

#include "plugins/probes/common.h"
#include "plugins/probes/logit_lens.h"
#include "tests/plugins/probes/probes_test_util.h"

namespace kiln::probes::testing {
namespace {

const char* kModel =
    R"({"vocab": 13, "d_model": 16, "n_layers": 3, "n_heads": 2, "context": 12, "init_std": 0.3})";

Tensor ids(const std::vector<int64_t>& v) {
  return from_vector(v, {1, int64_t(v.size())});
}

bool bitwise_equal(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape()) return false;
  return a.to(DType::f64).contiguous().to_vector<double>() ==
         b.to(DType::f64).contiguous().to_vector<double>();
}

TEST(Hooks, UnsetHookPointReturnsItsInputUncopied) {
  nn::HookPoint p;
  Tensor x = ones({2, 3});
  EXPECT_FALSE(p.active());
  EXPECT_TRUE(p(x).is_same(x));
}

TEST(Hooks, TransformerLensNamesExist) {
  auto m = make_decoder(kModel);
  for (const char* n :
       {"hook_embed", "hook_pos_embed", "blocks.0.hook_resid_pre", "blocks.0.ln1.hook_normalized",
        "blocks.0.attn.hook_q", "blocks.0.attn.hook_k", "blocks.0.attn.hook_v",
        "blocks.0.attn.hook_attn_scores", "blocks.0.attn.hook_pattern", "blocks.0.attn.hook_z",
        "blocks.0.hook_attn_out", "blocks.0.hook_resid_mid", "blocks.0.mlp.hook_pre",
        "blocks.0.mlp.hook_post", "blocks.0.hook_mlp_out", "blocks.2.hook_resid_post",
        "ln_final.hook_normalized"})
    EXPECT_TRUE(has_hook(*m, n)) << n;
  EXPECT_EQ(count_layers(*m), 3);
}

TEST(Hooks, RunWithCacheFiltersAndMatchesForward) {
  auto m = make_decoder(kModel);
  Tensor t = ids({1, 5, 2, 7, 7, 3});
  nn::CacheRun r = nn::run_with_cache(*m, t, nn::names_ending("hook_resid_post"));
  EXPECT_EQ(r.cache.size(), 3u);
  EXPECT_EQ(r.cache.at("blocks.1.hook_resid_post").shape(), (Shape{1, 6, 16}));
  EXPECT_TRUE(
      bitwise_equal(r.logits, forward_logits(*m, t)));  // residual hooks keep the fused path
  nn::CacheRun z = nn::run_with_cache(*m, t, nn::names_in({"blocks.0.attn.hook_z"}));
  EXPECT_EQ(z.cache.at("blocks.0.attn.hook_z").shape(), (Shape{1, 6, 2, 8}));
}

// Patching the clean cache into the clean run changes nothing: every hook point replaced by its
// own cached value gives the logits of the caching run, bit for bit.
TEST(Hooks, PatchingTheCleanCacheIntoTheCleanRunChangesNothing) {
  auto m = make_decoder(kModel);
  Tensor t = ids({1, 5, 2, 7, 7, 3, 11, 0});
  nn::CacheRun clean = nn::run_with_cache(*m, t);
  EXPECT_GT(clean.cache.size(), 30u);
  nn::Hooks hooks(*m);
  for (const auto& [name, value] : clean.cache) hooks.add(name, nn::replace_with(value));
  EXPECT_TRUE(bitwise_equal(forward_logits(*m, t), clean.logits));
}

// Patching every activation of one layer from the corrupted run into the clean one reproduces the
// corrupted logits exactly: downstream of a block sees only its output.
TEST(Hooks, PatchingOneLayerFromTheCorruptedCacheGivesTheCorruptedLogits) {
  auto m = make_decoder(kModel);
  Tensor clean = ids({1, 5, 2, 7, 7, 3, 11, 0}), corrupted = ids({4, 5, 9, 7, 1, 3, 12, 6});
  for (int64_t layer : {0, 1, 2}) {
    const std::string prefix = "blocks." + std::to_string(layer) + ".";
    auto in_layer = [&](const std::string& n) { return n.rfind(prefix, 0) == 0; };
    nn::CacheRun bad = nn::run_with_cache(*m, corrupted, in_layer);
    nn::Hooks hooks(*m);
    for (const auto& [name, value] : bad.cache) hooks.add(name, nn::replace_with(value));
    Tensor patched = forward_logits(*m, clean);
    EXPECT_TRUE(bitwise_equal(patched, bad.logits)) << "layer " << layer;
  }
  // And the hooks are gone once their scope ended.
  EXPECT_TRUE(bitwise_equal(forward_logits(*m, clean),
                            nn::run_with_cache(*m, clean, nn::names_in({})).logits));
  for (const auto& [name, point] : m->named_hook_points()) EXPECT_FALSE(point->active()) << name;
}

// A replacing hook changes the output as a hand computation predicts: the final norm's output
// replaced by a chosen N gives logits N W_U^T (tied: W_U = wte.weight), computed here in loops.
TEST(Hooks, ReplacingHookChangesTheOutputAsComputedByHand) {
  auto m = make_decoder(kModel);
  m->to(DType::f64);
  Tensor t = ids({3, 1, 4, 1, 5});
  const int64_t T = 5, d = 16, V = 13;
  std::vector<double> n(size_t(T * d));
  for (size_t i = 0; i < n.size(); ++i) n[i] = std::sin(0.7 * double(i)) - 0.1;
  Tensor N = from_vector(n, {1, T, d});
  Tensor logits;
  {
    nn::ScopedHook h = nn::add_hook(*m, "ln_final.hook_normalized", nn::replace_with(N));
    logits = forward_logits(*m, t);
  }
  Tensor w;
  for (const auto& [name, p] : m->named_parameters())
    if (name == "wte.weight") w = p;
  ASSERT_TRUE(w.defined());
  const std::vector<double> wv = w.contiguous().to_vector<double>(),
                            got = logits.to_vector<double>();
  for (int64_t i = 0; i < T; ++i)
    for (int64_t v = 0; v < V; ++v) {
      double want = 0;
      for (int64_t j = 0; j < d; ++j) want += n[size_t(i * d + j)] * wv[size_t(v * d + j)];
      EXPECT_NEAR(got[size_t(i * V + v)], want, 1e-12);
    }
  // The hook was removed with its guard: the plain logits differ from the hooked ones.
  EXPECT_FALSE(bitwise_equal(logits, forward_logits(*m, t)));
}

TEST(Hooks, BadNamesAndShapesGiveClearErrors) {
  auto m = make_decoder(kModel);
  try {
    nn::Hooks(*m).add("blocks.0.hook_resid_prex", nn::replace_with(ones({1})));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no hook point named \"blocks.0.hook_resid_prex\""),
              std::string::npos)
        << e.what();
  }
  nn::Hooks h(*m);
  h.add("blocks.0.hook_resid_pre", nn::replace_with(ones({1, 2, 16})));
  try {
    forward_logits(*m, ids({1, 2, 3}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("replace_with at blocks.0.hook_resid_pre"),
              std::string::npos)
        << e.what();
  }
}

// Acceptance 2: the logit lens at the last layer is the model's own logits, bit for bit.
TEST(LogitLens, LastLayerEqualsTheModelsLogits) {
  auto m = make_decoder(kModel);
  Tensor t = ids({1, 5, 2, 7, 7, 3});
  LogitLens lens = logit_lens(*m, t);
  ASSERT_EQ(lens.rows.size(), 4u);
  EXPECT_EQ(lens.rows[0], "embed");
  EXPECT_EQ(lens.rows[3], "2");
  EXPECT_TRUE(bitwise_equal(lens.logits.select(0, 3), forward_logits(*m, t).select(0, 0)));
  EXPECT_FALSE(bitwise_equal(lens.logits.select(0, 1), forward_logits(*m, t).select(0, 0)));
  // Top-1 of each cell has rank 0 as a target, and its probability is the target's.
  auto top = lens_top_k(lens, 3);
  for (int64_t r = 0; r < 4; ++r)
    for (int64_t pos = 0; pos < 6; ++pos) {
      std::vector<double> prob;
      std::vector<int64_t> rank;
      const LensTop& k = top[size_t(r)][size_t(pos)];
      EXPECT_GE(k.probs[0], k.probs[1]);
      lens_target(lens, k.ids[0], prob, rank);
      EXPECT_EQ(rank[size_t(r * 6 + pos)], 0);
      EXPECT_DOUBLE_EQ(prob[size_t(r * 6 + pos)], k.probs[0]);
      lens_target(lens, k.ids[2], prob, rank);
      EXPECT_EQ(rank[size_t(r * 6 + pos)], 2);
    }
}

TEST(AttentionPatterns, RowsAreCausalDistributions) {
  auto m = make_decoder(kModel);
  Tensor p = attention_patterns(*m, ids({1, 5, 2, 7}));
  ASSERT_EQ(p.shape(), (Shape{3, 2, 4, 4}));
  const std::vector<double> v = p.to_vector<double>();
  for (int64_t r = 0; r < 3 * 2 * 4; ++r) {
    double s = 0;
    for (int64_t k = 0; k < 4; ++k) {
      s += v[size_t(r * 4 + k)];
      if (k > r % 4) {
        EXPECT_EQ(v[size_t(r * 4 + k)], 0.0);
      }
    }
    EXPECT_NEAR(s, 1.0, 1e-6);
  }
}

}  // namespace
}  // namespace kiln::probes::testing

namespace kiln::probes::testing {
namespace {

// attn_only = true: blocks without ln2 and MLP, and without their hook points (TransformerLens's
// attn_only models); resid_post = resid_pre + attn_out.
TEST(Hooks, AttentionOnlyBlocksHaveNoMlp) {
  auto m = make_decoder(R"({"vocab": 13, "d_model": 16, "n_layers": 2, "n_heads": 2, "context": 12,
                            "attn_only": true})");
  EXPECT_TRUE(has_hook(*m, "blocks.1.attn.hook_z"));
  EXPECT_FALSE(has_hook(*m, "blocks.0.hook_mlp_out"));
  EXPECT_FALSE(has_hook(*m, "blocks.0.hook_resid_mid"));
  for (const auto& [name, p] : m->named_parameters()) {
    EXPECT_EQ(name.find(".mlp."), std::string::npos) << name;
    EXPECT_EQ(name.find(".ln2."), std::string::npos) << name;
  }
  Tensor t = from_vector(std::vector<int64_t>{1, 2, 3, 4}, {1, 4});
  nn::CacheRun r = nn::run_with_cache(*m, t);
  const std::vector<double> pre = r.cache.at("blocks.1.hook_resid_pre").to_vector<double>(),
                            a = r.cache.at("blocks.1.hook_attn_out").to_vector<double>(),
                            post = r.cache.at("blocks.1.hook_resid_post").to_vector<double>();
  for (size_t i = 0; i < post.size(); ++i) EXPECT_EQ(post[i], float(pre[i] + a[i]));
}

}  // namespace
}  // namespace kiln::probes::testing
