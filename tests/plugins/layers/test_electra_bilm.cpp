// ELECTRA (generator and discriminator sharing the embeddings) and the ELMo-style biLM: counts
// by hand, what is shared, what each head gives, directions, padding and gradients.
#include <cmath>

#include "plugins/layers/bilm.h"
#include "plugins/layers/electra.h"
#include "plugins/layers/lstm.h"
#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

constexpr int64_t V = 23, CTX = 12;

int64_t block_params(int64_t h, int64_t f) {
  return (3 * h * h + 3 * h) + (h * h + h) + 2 * h + (h * f + f) + (f * h + h) + 2 * h;
}

std::shared_ptr<Electra> electra() {
  auto m = std::dynamic_pointer_cast<Electra>(make_model(
      R"({"@component": "model.electra", "vocab": 23, "d_model": 24, "n_layers": 2,
          "n_heads": 3, "d_mlp": 48, "d_embed": 12, "context": 12})"));
  EXPECT_TRUE(m);
  randomize(*m, 60, 0.3);
  return m;
}

TEST(Electra, GeneratorIsAThirdAndSharesTheEmbeddings) {
  auto m = electra();
  auto& gen = dynamic_cast<Encoder&>(m->generator());
  EXPECT_EQ(gen.d_model(), 8);  // 24 / 3, heads 3 / 3, MLP 48 / 3
  EXPECT_EQ(m->d_model(), 24);
  EXPECT_EQ(gen.embeddings.get(), m->embeddings.get());
  EXPECT_EQ(m->discriminator->embeddings.get(), m->embeddings.get());
  EXPECT_TRUE(gen.mlm_head->decoder_weight().is_same(m->embeddings->wte->weight));
  const int64_t E = 12;
  const int64_t emb = V * E + CTX * E + 2 * E + 2 * E;
  const int64_t disc = (E * 24 + 24) + 2 * block_params(24, 48);
  const int64_t head = (24 * 24 + 24) + (24 + 1);
  const int64_t generator = (E * 8 + 8) + 2 * block_params(8, 16) + (8 * E + E + 2 * E + V);
  EXPECT_EQ(m->num_parameters(), emb + disc + head + generator);
  // The shared embeddings are stored once, under the model.
  nn::StateDict sd = m->state_dict();
  EXPECT_EQ(sd.size(), m->named_parameters().size());
  EXPECT_TRUE(sd.count("embeddings.wte.weight"));
  for (auto& [n, t] : sd)
    EXPECT_FALSE(n.starts_with("generator.embeddings") || n.starts_with("discriminator.embeddings"))
        << n;
}

TEST(Electra, HeadsAndGradientsReachTheSharedEmbeddings) {
  auto m = electra();
  Tensor ids = random_ids(V, {2, 5}, 61);
  nn::ForwardState st;
  Tensor g = m->forward(ids, st);
  EXPECT_EQ(g.shape(), (Shape{2, 5, V}));
  nn::ForwardState st2;
  EXPECT_ALL_CLOSE(m->generator().forward(ids, st2), g, 0, 0);
  nn::ForwardState st3;
  Tensor h = m->encode(ids, st3);
  EXPECT_EQ(h.shape(), (Shape{2, 5, 24}));
  Tensor d = m->discriminator_logits(h);
  EXPECT_EQ(d.shape(), (Shape{2, 5}));
  EXPECT_NE(error_of([&] { m->mlm_logits(h); }).find("the MLM head is the generator's"),
            std::string::npos);
  // The discriminator's loss alone reaches the embeddings and not the generator.
  ops::sum(d).backward();
  EXPECT_TRUE(m->embeddings->wte->weight.grad().defined());
  for (auto& [n, p] : m->named_parameters()) {
    if (n.starts_with("generator.")) {
      EXPECT_FALSE(p.grad().defined()) << n;
    }
  }
  m->zero_grad();
  ops::sum(g).backward();
  EXPECT_TRUE(m->embeddings->wte->weight.grad().defined());
  for (auto& [n, p] : m->named_parameters()) {
    if (n.starts_with("discriminator")) {
      EXPECT_FALSE(p.grad().defined()) << n;
    }
  }
}

TEST(Electra, Gradcheck) {
  auto m = std::dynamic_pointer_cast<Electra>(make_model(
      R"({"@component": "model.electra", "vocab": 7, "d_model": 12, "n_layers": 1,
          "n_heads": 3, "d_mlp": 12, "d_embed": 6, "context": 6})"));
  ASSERT_TRUE(m);
  randomize(*m, 63, 0.5);
  Tensor ids = random_ids(7, {1, 4}, 62);
  std::vector<Tensor> in;
  for (auto& [n, p] : m->named_parameters())
    if (n.starts_with("embeddings") || n.starts_with("discriminator_head") ||
        n.find("embed_proj") != std::string::npos || n.starts_with("generator.mlm_head"))
      in.push_back(p);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>&) {
        nn::ForwardState a;
        nn::ForwardState b;
        return ops::add(ops::sum(m->discriminator_logits(m->encode(ids, a))),
                        ops::sum(m->forward(ids, b)));
      },
      in);
}

// ---- biLM -----------------------------------------------------------------------------------

std::shared_ptr<BiLM> bilm(const std::string& extra = "") {
  auto m = std::dynamic_pointer_cast<BiLM>(make_model(
      R"({"@component": "model.bilm", "vocab": 23, "d_model": 8, "n_layers": 2, "d_hidden": 12,
          "context": 12)" +
      extra + "}"));
  EXPECT_TRUE(m);
  randomize(*m, 70);
  return m;
}

TEST(BiLM, CountAndNames) {
  auto m = bilm();
  // Per layer and direction, LSTM(8, 12, proj_size = 8): W_ih [48, 8], W_hh [48, 8], two
  // biases [48], W_hr [8, 12]; the softmax is the token table.
  EXPECT_EQ(m->num_parameters(), V * 8 + 4 * (48 * 8 + 48 * 8 + 2 * 48 + 8 * 12));
  EXPECT_EQ(count_under(*m, "forward_layers.1."), 48 * 8 + 48 * 8 + 2 * 48 + 8 * 12);
  EXPECT_EQ(count_under(*m, "backward_layers.0."), 48 * 8 + 48 * 8 + 2 * 48 + 8 * 12);
}

// Each direction by hand: the stacks with ELMo's residual around the second layer; the
// backward one on the reversed sequence.
TEST(BiLM, DirectionsComposeTheirLayers) {
  auto m = bilm();
  Tensor ids = random_ids(V, {2, 5}, 71);
  nn::ForwardState st;
  auto out = m->bidirectional_logits(ids, st);
  auto layer = [&](const nn::ModuleList& l, int i) { return l.at<LSTM>(size_t(i)); };
  nn::ForwardState s;
  Tensor x = m->wte->forward(ids, s);
  Tensor f0 = layer(*m->forward_layers, 0)->forward(x, s);
  Tensor f1 = ops::add(layer(*m->forward_layers, 1)->forward(f0, s), f0);
  std::vector<int64_t> rev{4, 3, 2, 1, 0};
  Tensor ridx = from_vector(rev, {5});
  Tensor xr = ops::index_select(x, 1, ridx);
  Tensor b0 = layer(*m->backward_layers, 0)->forward(xr, s);
  Tensor b1 =
      ops::index_select(ops::add(layer(*m->backward_layers, 1)->forward(b0, s), b0), 1, ridx);
  EXPECT_ALL_CLOSE(out.forward, ops::linear(f1, m->wte->weight), 1e-12, 1e-10);
  EXPECT_ALL_CLOSE(out.backward, ops::linear(b1, m->wte->weight), 1e-12, 1e-10);
  nn::ForwardState s2;
  EXPECT_ALL_CLOSE(m->forward(ids, s2), out.forward, 0, 0);
  nn::ForwardState s3;
  EXPECT_ALL_CLOSE(m->encode(ids, s3), ops::concat({f1, b1}, -1), 1e-12, 1e-10);
}

TEST(BiLM, ForwardSeesThePastAndBackwardTheFuture) {
  for (const std::string& extra :
       {std::string(), std::string(R"(, "layer": {"@component": "layer.block",
            "attn": {"@component": "layer.attention", "pos": {"@component": "layer.rope"}}},
            "n_heads": 2, "d_hidden": null)")}) {
    SCOPED_TRACE(extra);
    auto m = bilm(extra);
    nn::ForwardState s1, s2;
    auto a = m->bidirectional_logits(token_ids({1, 2, 3, 4, 5, 6}, {1, 6}), s1);
    auto b = m->bidirectional_logits(token_ids({1, 2, 3, 9, 5, 6}, {1, 6}), s2);
    auto differs = [](const Tensor& x, const Tensor& y, int64_t t) {
      return ops::max(ops::abs(ops::sub(x.select(1, t), y.select(1, t)))).item() > 1e-9;
    };
    for (int64_t t = 0; t < 6; ++t) {
      EXPECT_EQ(differs(a.forward, b.forward, t), t >= 3) << t;
      EXPECT_EQ(differs(a.backward, b.backward, t), t <= 3) << t;
    }
  }
}

TEST(BiLM, PaddedRowEqualsTheRowAlone) {
  auto m = bilm();
  nn::ForwardState st;
  st.key_padding = from_vector(std::vector<bool>{1, 1, 1, 1, 0, 0}, {1, 6});
  auto padded = m->bidirectional_logits(token_ids({1, 2, 3, 4, 0, 0}, {1, 6}), st);
  nn::ForwardState alone;
  auto want = m->bidirectional_logits(token_ids({1, 2, 3, 4}, {1, 4}), alone);
  EXPECT_ALL_CLOSE(padded.forward.narrow(1, 0, 4), want.forward, 1e-12, 1e-12);
  EXPECT_ALL_CLOSE(padded.backward.narrow(1, 0, 4), want.backward, 1e-12, 1e-12);
}

TEST(BiLM, Gradcheck) {
  auto m = bilm(R"(, "tie_embeddings": false)");
  Tensor ids = random_ids(V, {2, 3}, 72);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>&) {
        nn::ForwardState st;
        auto l = m->bidirectional_logits(ids, st);
        return ops::add(l.forward, l.backward);
      },
      with_parameters(*m));
}

TEST(BiLM, LayersMustBeCausal) {
  EXPECT_NE(error_of([] {
              bilm(R"(, "layer": {"@component": "layer.block", "attn":
                       {"@component": "layer.attention", "causal": false}}, "n_heads": 2,
                       "d_hidden": null)");
            }).find("is bidirectional; a language model's layers must be causal"),
            std::string::npos);
  EXPECT_NE(error_of([] {
              bilm(R"(, "layer": {"@component": "layer.lstm", "direction": "both"})");
            }).find("must read forward"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::layers::testing
