// The encoder model (BERT, RoBERTa, ALBERT): built from configs, bidirectional attention with
// key padding, token types, the factorised embedding, cross-layer sharing (counted, stored and
// checkpointed once; gradients summed), the MLM and sentence heads, and gradients.
#include <cmath>
#include <set>

#include "plugins/layers/encoder.h"
#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

constexpr int64_t V = 23, H = 16, F = 24, CTX = 12;

std::shared_ptr<Encoder> encoder(const std::string& extra, bool random = true) {
  auto m = std::dynamic_pointer_cast<Encoder>(
      make_model(R"({"@component": "model.encoder", "vocab": 23, "d_model": 16, "n_heads": 2,
                     "d_mlp": 24, "context": 12)" +
                 extra + "}"));
  EXPECT_TRUE(m);
  if (random) randomize(*m, 11);
  return m;
}

// Parameters of one block of width h and MLP width f with biases: c_attn, c_proj, ln1, mlp, ln2.
int64_t block_params(int64_t h, int64_t f) {
  return (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h;
}

TEST(Encoder, BertParameterNamesAndCount) {
  auto m = encoder(R"(, "n_layers": 2, "sentence_head": 2)");
  std::vector<std::string> names;
  for (auto& [n, p] : m->named_parameters()) names.push_back(n);
  std::vector<std::string> want{"embeddings.wte.weight", "embeddings.wpe.weight",
                                "embeddings.token_type.weight", "embeddings.ln.weight",
                                "embeddings.ln.bias"};
  for (int i = 0; i < 2; ++i)
    for (const char* s :
         {"ln1.weight", "ln1.bias", "attn.c_attn.weight", "attn.c_attn.bias", "attn.c_proj.weight",
          "attn.c_proj.bias", "ln2.weight", "ln2.bias", "mlp.c_fc.weight", "mlp.c_fc.bias",
          "mlp.c_proj.weight", "mlp.c_proj.bias"})
      want.push_back("blocks." + std::to_string(i) + "." + s);
  // A module's own parameters come before its children's: the MLM bias before its dense.
  for (const char* s :
       {"mlm_head.bias", "mlm_head.dense.weight", "mlm_head.dense.bias", "mlm_head.ln.weight",
        "mlm_head.ln.bias", "sentence_head.pooler.weight", "sentence_head.pooler.bias",
        "sentence_head.classifier.weight", "sentence_head.classifier.bias"})
    want.push_back(s);
  EXPECT_EQ(names, want);
  // BERT's count: embeddings (token, position, type, norm), blocks, MLM head (dense, norm, bias;
  // the decoder is the token table), pooler and NSP classifier.
  const int64_t emb = V * H + CTX * H + 2 * H + 2 * H;
  const int64_t mlm = H * H + H + 2 * H + V;
  const int64_t sentence = H * H + H + 2 * H + 2;
  EXPECT_EQ(m->num_parameters(), emb + 2 * block_params(H, F) + mlm + sentence);
  EXPECT_EQ(m->state_dict().size(), names.size());
  EXPECT_EQ(m->sentence_classes(), 2);
  EXPECT_EQ(m->d_model(), H);
  EXPECT_EQ(m->vocab_size(), V);
  EXPECT_TRUE(m->mlm_head->decoder_weight().is_same(m->embeddings->wte->weight));
}

TEST(Encoder, AttentionIsBidirectional) {
  auto m = encoder(R"(, "n_layers": 2)");
  Tensor a = token_ids({1, 2, 3, 4, 5, 6}, {1, 6});
  Tensor b = token_ids({1, 2, 3, 4, 5, 7}, {1, 6});
  nn::ForwardState s1, s2;
  Tensor ha = m->encode(a, s1), hb = m->encode(b, s2);
  // Changing the last token changes every position's state (a causal model would not).
  for (int64_t t = 0; t < 6; ++t)
    EXPECT_GT(ops::max(ops::abs(ops::sub(ha.select(1, t), hb.select(1, t)))).item(), 1e-6) << t;
  for (const auto& [n, mod] : m->named_modules()) {
    if (auto* att = dynamic_cast<const Attention*>(mod)) {
      EXPECT_FALSE(att->config().causal) << n;
    }
  }
}

TEST(Encoder, PaddedKeysAreHidden) {
  auto m = encoder(R"(, "n_layers": 2)");
  // Row 0 has 4 real tokens then padding; the padding's ids must not matter to real positions.
  Tensor a = token_ids({1, 2, 3, 4, 0, 0, 5, 6, 7, 8, 9, 10}, {2, 6});
  Tensor b = token_ids({1, 2, 3, 4, 9, 3, 5, 6, 7, 8, 9, 10}, {2, 6});
  Tensor kp = from_vector(std::vector<bool>{1, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, 1}, {2, 6});
  nn::ForwardState s1, s2;
  s1.key_padding = kp;
  s2.key_padding = kp;
  Tensor ha = m->encode(a, s1), hb = m->encode(b, s2);
  EXPECT_ALL_CLOSE(ha.narrow(1, 0, 4), hb.narrow(1, 0, 4), 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(ha.select(0, 1), hb.select(0, 1), 1e-12, 1e-12);
  // And a row alone, without padding, gives the same states as in the padded batch.
  nn::ForwardState s3;
  Tensor alone = m->encode(token_ids({1, 2, 3, 4}, {1, 4}), s3);
  EXPECT_ALL_CLOSE(ha.narrow(0, 0, 1).narrow(1, 0, 4), alone, 1e-12, 1e-10);
}

// The embeddings by plain loops: token + position + type rows, then LayerNorm.
TEST(Encoder, EmbeddingsAddTokenPositionAndTypeThenNorm) {
  auto m = encoder(R"(, "n_layers": 1)");
  std::vector<int64_t> ids{3, 1, 4, 1, 5, 9}, types{0, 0, 1, 0, 1, 1};
  nn::ForwardState st;
  st.token_types = from_vector(types, {2, 3});
  Tensor got = m->embeddings->forward(from_vector(ids, {2, 3}), st);
  Vec wte = values(m->embeddings->wte->weight),
      wpe = values(std::dynamic_pointer_cast<LearnedPositions>(m->embeddings->wpe)->weight),
      wtt = values(m->embeddings->token_type->weight);
  Vec x(6 * H);
  for (int64_t r = 0; r < 6; ++r)
    for (int64_t i = 0; i < H; ++i)
      x[size_t(r * H + i)] = wte[size_t(ids[size_t(r)] * H + i)] + wpe[size_t((r % 3) * H + i)] +
                             wtt[size_t(types[size_t(r)] * H + i)];
  auto ln = std::dynamic_pointer_cast<LayerNorm>(m->embeddings->ln);
  Vec want = ref_layer_norm(x, values(ln->weight), values(ln->bias), H, 1e-5);
  EXPECT_ALL_CLOSE(got, from_vector(want, {2, 3, H}), 1e-12, 1e-10);
  // Without token types every token is of type 0.
  nn::ForwardState s0, s1;
  s1.token_types = from_vector(std::vector<int64_t>(6, 0), {2, 3});
  EXPECT_ALL_CLOSE(m->embeddings->forward(from_vector(ids, {2, 3}), s0),
                   m->embeddings->forward(from_vector(ids, {2, 3}), s1), 0, 0);
  // Bad types are named.
  nn::ForwardState bad;
  bad.token_types = from_vector(std::vector<int64_t>{0, 2, 0, 0, 0, 0}, {2, 3});
  EXPECT_NE(error_of([&] {
              m->embeddings->forward(from_vector(ids, {2, 3}), bad);
            }).find("token types must be in [0, 2), got values from 0 to 2"),
            std::string::npos);
}

// The encoder wires its pieces: embeddings, the blocks in order, no final norm (post-norm);
// and forward() is the MLM head over encode().
TEST(Encoder, EncodeComposesEmbeddingsAndBlocks) {
  for (const char* extra : {R"(, "n_layers": 2)", R"(, "n_layers": 2, "norm_position": "pre")"}) {
    SCOPED_TRACE(extra);
    auto m = encoder(extra);
    EXPECT_EQ(m->ln_final != nullptr, std::string(extra).find("pre") != std::string::npos);
    Tensor ids = random_ids(V, {2, 5}, 3);
    nn::ForwardState st;
    Tensor x = m->embeddings->forward(ids, st);
    for (int64_t i = 0; i < 2; ++i) x = m->block(i).forward(x, st);
    if (m->ln_final) x = m->ln_final->forward(x, st);
    nn::ForwardState st2;
    Tensor h = m->encode(ids, st2);
    EXPECT_ALL_CLOSE(h, x, 0, 0);
    nn::ForwardState st3;
    EXPECT_ALL_CLOSE(m->forward(ids, st3), m->mlm_logits(h), 0, 0);
  }
}

// BERT's MLM head by plain loops: gelu(h W1^T + b1) -> LayerNorm -> (.) E^T + b.
TEST(Encoder, MlmHeadMatchesPlainLoops) {
  for (bool factorised : {false, true}) {
    auto m = encoder(factorised ? R"(, "n_layers": 1, "d_embed": 8)" : R"(, "n_layers": 1)");
    const int64_t E = factorised ? 8 : H;
    Tensor h = randn64({2, 3, H}, 5);
    Tensor got = m->mlm_logits(h);
    auto& head = *m->mlm_head;
    Vec y = ref_linear(values(h), values(head.dense->weight), values(head.dense->bias), 6, H, E);
    for (double& v : y) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
    auto ln = std::dynamic_pointer_cast<LayerNorm>(head.ln);
    y = ref_layer_norm(y, values(ln->weight), values(ln->bias), E, 1e-5);
    Vec want = ref_linear(y, values(m->embeddings->wte->weight), values(head.bias), 6, E, V);
    EXPECT_ALL_CLOSE(got, from_vector(want, {2, 3, V}), 1e-12, 1e-10);
  }
}

TEST(Encoder, FactorisedEmbeddingProjectsToTheHiddenWidth) {
  auto m = encoder(R"(, "n_layers": 1, "d_embed": 8)");
  ASSERT_TRUE(m->embed_proj);
  EXPECT_EQ(m->embeddings->wte->weight.shape(), (Shape{V, 8}));
  EXPECT_EQ(m->embed_proj->weight.shape(), (Shape{H, 8}));
  EXPECT_EQ(m->mlm_head->dense->weight.shape(), (Shape{8, H}));
  Tensor ids = random_ids(V, {2, 4}, 4);
  nn::ForwardState st;
  Tensor e = m->embeddings->forward(ids, st);
  Vec want =
      ref_linear(values(e), values(m->embed_proj->weight), values(m->embed_proj->bias), 8, 8, H);
  nn::ForwardState st2;
  EXPECT_ALL_CLOSE(m->embed(ids, st2), from_vector(want, {2, 4, H}), 1e-12, 1e-10);
}

// ALBERT: E = 8 projected to H = 16, one block shared by 4 layers, SOP head. Counted by hand.
TEST(Encoder, AlbertParameterCountWithSharingIsComputedByHand) {
  for (int64_t groups : {1, 2}) {
    SCOPED_TRACE(groups);
    auto m = encoder(R"(, "n_layers": 4, "d_embed": 8, "sentence_head": 2, "n_groups": )" +
                     std::to_string(groups));
    const int64_t E = 8;
    const int64_t emb = V * E + CTX * E + 2 * E + 2 * E;  // token, position, type, norm
    const int64_t proj = E * H + H;                       // embedding_hidden_mapping_in
    const int64_t mlm = H * E + E + 2 * E + V;            // dense H -> E, norm, bias
    const int64_t sop = H * H + H + 2 * H + 2;            // pooler and classifier
    EXPECT_EQ(m->num_parameters(), emb + proj + groups * block_params(H, F) + mlm + sop);
    EXPECT_EQ(int64_t(m->blocks->size()), groups);
    EXPECT_EQ(m->n_layers(), 4);
    std::vector<int64_t> want =
        groups == 1 ? std::vector<int64_t>{0, 0, 0, 0} : std::vector<int64_t>{0, 0, 1, 1};
    EXPECT_EQ(m->layer_blocks(), want);
    // Stored and checkpointed once: the state dict holds each shared tensor under one name.
    nn::StateDict sd = m->state_dict();
    EXPECT_EQ(sd.size(), m->named_parameters().size());
    int64_t in_dict = 0;
    for (auto& [n, t] : sd) in_dict += t.numel();
    EXPECT_EQ(in_dict, m->num_parameters());
    for (auto& [n, t] : sd) EXPECT_FALSE(n.starts_with("blocks." + std::to_string(groups))) << n;
  }
}

// A shared block's gradient is the sum of what each layer that runs it contributes: the same
// weights copied into three unshared blocks give three gradients that add up to the shared one.
TEST(Encoder, SharedParametersGetTheSumOfTheLayersGradients) {
  auto shared = encoder(R"(, "n_layers": 3, "n_groups": 1, "d_embed": 8)");
  auto unshared = encoder(R"(, "n_layers": 3, "d_embed": 8)");
  {
    autograd::NoGrad ng;
    nn::StateDict src = shared->state_dict();
    for (auto& [name, p] : unshared->named_parameters()) {
      std::string from = name;
      if (name.starts_with("blocks.")) from = "blocks.0." + name.substr(name.find('.', 7) + 1);
      Tensor dst = p;
      dst.copy_(src.at(from));
    }
  }
  Tensor ids = random_ids(V, {2, 5}, 9);
  Tensor w = randn64({2, 5, V}, 10);
  for (auto* m : {shared.get(), unshared.get()}) {
    nn::ForwardState st;
    ops::sum(ops::mul(m->forward(ids, st), w)).backward();
  }
  const auto up = unshared->named_parameters();
  int checked = 0;
  for (auto& [name, p] : shared->named_parameters()) {
    if (!name.starts_with("blocks.0.")) {
      for (auto& [n2, p2] : up) {
        if (n2 == name) {
          EXPECT_ALL_CLOSE(p.grad(), p2.grad(), 1e-12, 1e-9) << name;
        }
      }
      continue;
    }
    const std::string rest = name.substr(9);
    Tensor sum;
    for (auto& [n2, p2] : up)
      if (n2.starts_with("blocks.") && n2.substr(n2.find('.', 7) + 1) == rest)
        sum = sum.defined() ? ops::add(sum, p2.grad()) : p2.grad();
    ASSERT_TRUE(sum.defined()) << name;
    EXPECT_ALL_CLOSE(p.grad(), sum, 1e-12, 1e-9) << name;
    EXPECT_GT(ops::max(ops::abs(p.grad())).item(), 0.0) << name;
    ++checked;
  }
  EXPECT_EQ(checked, 12);
}

TEST(Encoder, SentenceHeadReadsTheFirstToken) {
  auto m = encoder(R"(, "n_layers": 1, "sentence_head": 2)");
  Tensor h = randn64({3, 4, H}, 12);
  Tensor got = m->sentence_logits(h);
  EXPECT_EQ(got.shape(), (Shape{3, 2}));
  auto& head = *m->sentence_head;
  Vec first = values(h.select(1, 0).contiguous());
  Vec pooled = ref_linear(first, values(head.pooler->weight), values(head.pooler->bias), 3, H, H);
  for (double& v : pooled) v = std::tanh(v);
  Vec want =
      ref_linear(pooled, values(head.classifier->weight), values(head.classifier->bias), 3, H, 2);
  EXPECT_ALL_CLOSE(got, from_vector(want, {3, 2}), 1e-12, 1e-10);
  auto none = encoder(R"(, "n_layers": 1)");
  EXPECT_EQ(none->sentence_classes(), 0);
  EXPECT_NE(error_of([&] { none->sentence_logits(h); }).find("no sentence-level head"),
            std::string::npos);
  auto headless = encoder(R"(, "n_layers": 1, "mlm_head": false)");
  EXPECT_NE(error_of([&] { headless->mlm_logits(h); }).find("no MLM head"), std::string::npos);
}

// The whole model at its smallest (every parameter checked, so it stays tiny: 7 tokens, 8 wide).
TEST(Encoder, Gradcheck) {
  for (const char* extra : {R"("sentence_head": 2)",
                            R"("n_groups": 1, "d_embed": 4, "norm_position": "pre",
                               "pos": {"@component": "layer.t5_bias", "num_buckets": 8,
                                       "max_distance": 16}, "tie_embeddings": false)"}) {
    SCOPED_TRACE(extra);
    auto m = make_model(R"({"@component": "model.encoder", "vocab": 7, "d_model": 8, "n_heads": 2,
                            "d_mlp": 8, "context": 6, "n_layers": 2, )" +
                        std::string(extra) + "}");
    auto& e = dynamic_cast<Encoder&>(*m);
    randomize(e, 12);
    GradcheckOptions sampled;  // every parameter tensor, 24 coordinates of each
    sampled.max_per_input = 24;
    Tensor ids = random_ids(7, {2, 4}, 13);
    Tensor kp = from_vector(std::vector<bool>{1, 1, 1, 0, 1, 1, 1, 1}, {2, 4});
    Tensor types = from_vector(std::vector<int64_t>{0, 0, 1, 1, 0, 1, 1, 1}, {2, 4});
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>&) {
          nn::ForwardState st;
          st.key_padding = kp;
          st.token_types = types;
          Tensor h = e.encode(ids, st);
          Tensor out = e.mlm_logits(h);
          if (e.sentence_head) out = ops::add(ops::sum(out), ops::sum(e.sentence_logits(h)));
          return out;
        },
        with_parameters(e), sampled);
  }
}

// The factorised embedding alone: embeddings then the projection, in f64.
TEST(Encoder, FactorisedEmbeddingGradcheck) {
  auto m = encoder(R"(, "n_layers": 1, "d_embed": 8)");
  Tensor ids = random_ids(V, {2, 3}, 14);
  std::vector<Tensor> in = with_parameters(*m->embeddings);
  in = with_parameters(*m->embed_proj, in);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>&) {
        nn::ForwardState st;
        return m->embed(ids, st);
      },
      in);
}

TEST(Encoder, ErrorsNameTheProblem) {
  EXPECT_NE(error_of([] {
              encoder(R"(, "n_layers": 4, "n_groups": 3)");
            }).find("n_groups (3) must divide n_layers (4)"),
            std::string::npos);
  auto m = encoder(R"(, "n_layers": 1)");
  nn::ForwardState st;
  EXPECT_NE(error_of([&] {
              m->encode(random_ids(V, {1, 13}, 1), st);
            }).find("13 tokens exceed the model's context of 12"),
            std::string::npos);
  nn::KVCache cache;
  nn::ForwardState cached;
  cached.cache = &cache;
  EXPECT_NE(error_of([&] {
              m->encode(random_ids(V, {1, 3}, 1), cached);
            }).find("no KV cache"),
            std::string::npos);
  EXPECT_NE(error_of([&] { m->make_cache(1, 4); }).find("no KV cache"), std::string::npos);
}

}  // namespace
}  // namespace kiln::layers::testing
