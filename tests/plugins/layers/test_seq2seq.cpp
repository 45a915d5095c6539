// Cross-attention, T5's relative position bias, and the encoder-decoder model (T5- and
// BART-shaped): plain-loop references, parameter counts by hand, masks, gradients, and
// generation with the cross-attention keys kept in the KV cache.
#include <cmath>
#include <set>

#include "core/generation/generate.h"
#include "plugins/layers/encoder_decoder.h"
#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

// ---- cross-attention ------------------------------------------------------------------------

std::shared_ptr<Attention> cross(int64_t C, int64_t H, int64_t Hkv, int64_t M) {
  AttentionConfig c;
  c.d_model = C;
  c.n_heads = H;
  c.n_kv_heads = Hkv;
  c.causal = false;
  c.cross = true;
  c.d_memory = M;
  auto a = std::make_shared<Attention>(c, nullptr);
  randomize(*a, 30);
  return a;
}

// Cross-attention by plain loops: q from x [B, T, C], k and v from mem [B, S, M].
Vec ref_cross(const Attention& a, const Vec& x, const Vec& mem, int64_t B, int64_t T, int64_t S,
              const std::vector<int>& real) {
  const auto& c = a.config();
  const int64_t C = c.d_model, M = c.d_memory, H = c.n_heads, Hkv = c.n_kv_heads, D = c.head_dim;
  Vec q = ref_linear(x, values(a.c_q->weight), values(a.c_q->bias), B * T, C, H * D);
  Vec kv = ref_linear(mem, values(a.c_kv->weight), values(a.c_kv->bias), B * S, M, 2 * Hkv * D);
  Vec z(static_cast<size_t>(B * T * H * D), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h) {
      const int64_t g = h / (H / Hkv);
      for (int64_t i = 0; i < T; ++i) {
        Vec s(static_cast<size_t>(S));
        double m = -INFINITY;
        for (int64_t j = 0; j < S; ++j) {
          if (!real.empty() && !real[size_t(b * S + j)]) continue;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += q[size_t((b * T + i) * H * D + h * D + d)] *
                   kv[size_t((b * S + j) * 2 * Hkv * D + g * D + d)];
          s[size_t(j)] = dot / std::sqrt(double(D));
          m = std::max(m, s[size_t(j)]);
        }
        double sum = 0;
        for (int64_t j = 0; j < S; ++j)
          if (real.empty() || real[size_t(b * S + j)])
            sum += s[size_t(j)] = std::exp(s[size_t(j)] - m);
        for (int64_t j = 0; j < S; ++j) {
          if (!real.empty() && !real[size_t(b * S + j)]) continue;
          for (int64_t d = 0; d < D; ++d)
            z[size_t((b * T + i) * H * D + h * D + d)] +=
                s[size_t(j)] / sum * kv[size_t((b * S + j) * 2 * Hkv * D + (Hkv + g) * D + d)];
        }
      }
    }
  return ref_linear(z, values(a.c_proj->weight), values(a.c_proj->bias), B * T, H * D, C);
}

TEST(CrossAttention, MatchesPlainLoops) {
  for (auto [H, Hkv] : {std::pair<int64_t, int64_t>{2, 2}, {4, 2}}) {
    auto a = cross(8, H, Hkv, 6);
    const int64_t B = 2, T = 3, S = 5;
    Tensor x = randn64({B, T, 8}, 31), mem = randn64({B, S, 6}, 32);
    std::vector<int> real{1, 1, 1, 0, 0, 1, 1, 1, 1, 1};
    for (bool padded : {false, true}) {
      nn::ForwardState st;
      st.memory = mem;
      if (padded)
        st.memory_padding = from_vector(std::vector<bool>(real.begin(), real.end()), {B, S});
      Vec want = ref_cross(*a, values(x), values(mem), B, T, S, padded ? real : std::vector<int>());
      EXPECT_ALL_CLOSE(a->forward(x, st), from_vector(want, {B, T, 8}), 1e-12, 1e-10);
    }
  }
}

TEST(CrossAttention, Gradcheck) {
  auto a = cross(8, 4, 2, 6);
  Tensor mp = from_vector(std::vector<bool>{1, 1, 0, 1, 1, 1}, {2, 3});
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) {
        nn::ForwardState st;
        st.memory = v[1];
        st.memory_padding = mp;
        return a->forward(v[0], st);
      },
      with_parameters(
          *a, {randn64({2, 4, 8}, 33).requires_grad_(), randn64({2, 3, 6}, 34).requires_grad_()}));
}

TEST(CrossAttention, KVCacheComputesTheMemoryKeysOnce) {
  auto a = cross(8, 2, 2, 8);
  a->set_cache_slot(0);
  Tensor mem = randn64({1, 4, 8}, 35);
  int k_calls = 0;
  nn::ScopedHook hk(a->hook_point("hook_k"), [&](const Tensor& t, const std::string&) {
    ++k_calls;
    return t;
  });
  nn::KVCache cache;
  cache.layers.push_back(a->make_cache_entry(1, 8, DType::f64));
  cache.capacity = 8;
  EXPECT_TRUE(cache.layers[0].cross);
  EXPECT_FALSE(cache.layers[0].k.defined());
  Tensor x = randn64({1, 3, 8}, 36);
  std::vector<Tensor> cached;
  for (int64_t t = 0; t < 3; ++t) {
    nn::ForwardState st;
    st.memory = mem;
    st.cache = &cache;
    cached.push_back(a->forward(x.narrow(1, t, 1).contiguous(), st));
    cache.length += 1;
  }
  EXPECT_EQ(k_calls, 1);
  EXPECT_EQ(cache.layers[0].k.shape(), (Shape{1, 2, 4, 4}));
  nn::ForwardState st;
  st.memory = mem;
  Tensor whole = a->forward(x, st);
  EXPECT_ALL_CLOSE(ops::concat(cached, 1), whole, 1e-12, 1e-12);
  // A cache holds one memory.
  nn::ForwardState other;
  other.memory = randn64({1, 5, 8}, 37);
  other.cache = &cache;
  EXPECT_NE(error_of([&] {
              a->forward(x.narrow(1, 0, 1).contiguous(), other);
            }).find("a cache serves one memory"),
            std::string::npos);
  nn::ForwardState none;
  EXPECT_NE(error_of([&] { a->forward(x, none); }).find("state.memory is not set"),
            std::string::npos);
}

// ---- T5 relative position bias --------------------------------------------------------------

// Buckets worked by hand from T5's formula, bucket = exact + floor(log(r / exact) /
// log(max_distance / exact) * (n - exact)) for r >= exact, n the buckets of a direction.
TEST(T5Bias, BucketsWorkedByHand) {
  auto b = [](int64_t rel, bool bi) { return RelativePositionBias::bucket(rel, bi, 32, 128); };
  // Bidirectional: 16 buckets a direction, 8 exact; keys after the query (rel > 0) from 16.
  EXPECT_EQ(b(0, true), 0);
  EXPECT_EQ(b(-1, true), 1);
  EXPECT_EQ(b(-7, true), 7);
  EXPECT_EQ(b(-8, true), 8);     // 8 + floor(log(1) / log(16) * 8)
  EXPECT_EQ(b(-16, true), 10);   // 8 + floor(log(2) / log(16) * 8) = 8 + 2
  EXPECT_EQ(b(-64, true), 14);   // 8 + floor(log(8) / log(16) * 8) = 8 + 6
  EXPECT_EQ(b(-128, true), 15);  // 8 + 8, clipped to 15
  EXPECT_EQ(b(-5000, true), 15);
  EXPECT_EQ(b(1, true), 17);
  EXPECT_EQ(b(16, true), 26);
  // Causal: later keys all in bucket 0; 32 buckets, 16 exact.
  EXPECT_EQ(b(5, false), 0);
  EXPECT_EQ(b(-5, false), 5);
  EXPECT_EQ(b(-16, false), 16);
  EXPECT_EQ(b(-32, false), 21);  // 16 + floor(log(2) / log(8) * 16) = 16 + 5
  EXPECT_EQ(b(-127, false), 31);
  EXPECT_EQ(b(-128, false), 31);  // 16 + 16, clipped
}

TEST(T5Bias, BiasGathersTheTableAndFollowsTheCacheOffset) {
  RelativePositionBias p(3, 8, 16, false);
  randomize(p, 40);
  Vec w = values(p.weight);
  const int64_t T = 2, S = 6;  // two queries at positions 4 and 5 of six keys
  Tensor bias = p.attention_bias(3, T, S, DType::f64);
  ASSERT_EQ(bias.shape(), (Shape{1, 3, T, S}));
  Vec got = values(bias);
  for (int64_t h = 0; h < 3; ++h)
    for (int64_t t = 0; t < T; ++t)
      for (int64_t j = 0; j < S; ++j) {
        const int64_t bucket = RelativePositionBias::bucket(j - (S - T + t), false, 8, 16);
        EXPECT_EQ(got[size_t((h * T + t) * S + j)], w[size_t(bucket * 3 + h)]);
      }
  EXPECT_NE(error_of([&] {
              p.attention_bias(4, 1, 1, DType::f64);
            }).find("the table has 3 heads but the attention layer has 4"),
            std::string::npos);
}

TEST(T5Bias, AttentionGradcheckThroughTheBias) {
  for (bool causal : {false, true}) {
    AttentionConfig c;
    c.d_model = 8;
    c.n_heads = 2;
    c.causal = causal;
    c.scale = 1.0;  // T5 folds the scale into the initialisation
    auto pos = std::make_shared<RelativePositionBias>(2, 8, 16, !causal);
    auto a = std::make_shared<Attention>(c, nullptr);
    a->set_positions(pos);
    randomize(*a, 41);
    randomize(*pos, 42);
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& v) {
          nn::ForwardState st;
          return a->forward(v[0], st);
        },
        with_parameters(*pos, with_parameters(*a, {randn64({2, 5, 8}, 43).requires_grad_()})));
  }
}

// A decoder-only model with T5's bias: one table, stored once, read by every layer; its
// gradient collects every layer's use.
TEST(T5Bias, DecoderOnlyModelSharesOneTable) {
  auto m = std::dynamic_pointer_cast<Decoder>(make_model(
      R"({"@component": "model.decoder", "vocab": 11, "d_model": 8, "n_layers": 3, "n_heads": 2,
          "context": 16, "pos": {"@component": "layer.t5_bias", "num_buckets": 8,
                                 "max_distance": 16}})"));
  ASSERT_TRUE(m && m->rel_pos);
  EXPECT_FALSE(std::dynamic_pointer_cast<RelativePositionBias>(m->rel_pos)->bidirectional());
  EXPECT_EQ(count_under(*m, "rel_pos."), 8 * 2);
  EXPECT_EQ(count_under(*m, "blocks."),
            3 * ((3 * 64 + 24) + (64 + 8) + 16 + (8 * 32 + 32) + (32 * 8 + 8) + 16));
  for (const Attention* a : m->attention_layers())
    EXPECT_EQ(a->positions().get(), m->rel_pos.get());
  randomize(*m, 44);
  Tensor ids = random_ids(11, {1, 5}, 45);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>&) {
        nn::ForwardState st;
        return m->forward(ids, st);
      },
      with_parameters(*m->rel_pos));
}

// ---- the encoder-decoder --------------------------------------------------------------------

constexpr int64_t V = 19, D = 16, F = 24, CTX = 20;

const char* kT5 = R"({"@component": "model.encoder_decoder", "vocab": 19, "d_model": 16,
    "n_layers": 2, "n_decoder_layers": 3, "n_heads": 2, "d_mlp": 24, "context": 20,
    "norm": {"@component": "layer.rms_norm"}, "norm_position": "pre", "bias": false,
    "activation": "relu", "scale_logits": true,
    "pos": {"@component": "layer.t5_bias", "num_buckets": 8, "max_distance": 16},
    "encoder_block": {"@component": "layer.block",
                      "attn": {"@component": "layer.attention", "scale": 1.0}},
    "decoder_block": {"@component": "layer.block",
                      "attn": {"@component": "layer.attention", "scale": 1.0},
                      "cross_attn": {"@component": "layer.attention", "scale": 1.0}}})";

const char* kBart = R"({"@component": "model.encoder_decoder", "vocab": 19, "d_model": 16,
    "n_layers": 2, "n_heads": 2, "d_mlp": 24, "context": 20, "norm_position": "post",
    "embed_norm": true, "decoder_start": 2})";

std::shared_ptr<EncoderDecoder> seq2seq(const char* json, bool random = true) {
  auto m = std::dynamic_pointer_cast<EncoderDecoder>(make_model(json));
  EXPECT_TRUE(m);
  if (random) randomize(*m, 50, 0.3);
  return m;
}

TEST(EncoderDecoder, T5ShapedCountAndSharedBias) {
  auto m = seq2seq(kT5);
  // No biases, RMSNorm weights only; attention 4 d^2 (self: c_attn 3 d^2 + c_proj d^2; cross:
  // c_q d^2 + c_kv 2 d^2 + c_proj d^2), ReLU MLP 2 d F; one bias table [8, 2] per stack.
  const int64_t enc = 2 * (4 * D * D + 2 * D + 2 * D * F) + 8 * 2 + D;
  const int64_t dec = 3 * (8 * D * D + 3 * D + 2 * D * F) + 8 * 2 + D;
  EXPECT_EQ(m->num_parameters(), V * D + enc + dec);
  EXPECT_EQ(count_under(*m, "shared."), V * D);
  std::set<std::string> names;
  for (auto& [n, p] : m->named_parameters()) names.insert(n);
  for (const char* n :
       {"shared.weight", "encoder.rel_pos.weight", "decoder.rel_pos.weight",
        "encoder.ln_final.weight", "decoder.ln_final.weight",
        "decoder.blocks.0.cross_attn.c_q.weight", "decoder.blocks.0.cross_attn.c_kv.weight",
        "decoder.blocks.2.ln_cross.weight"})
    EXPECT_TRUE(names.count(n)) << n;
  EXPECT_EQ(m->state_dict().size(), names.size());
  // One bias table a stack: bidirectional in the encoder, causal in the decoder; every
  // self-attention of the stack reads it, cross-attention none.
  auto enc_bias = std::dynamic_pointer_cast<RelativePositionBias>(m->encoder->rel_pos);
  auto dec_bias = std::dynamic_pointer_cast<RelativePositionBias>(m->decoder->rel_pos);
  ASSERT_TRUE(enc_bias && dec_bias);
  EXPECT_TRUE(enc_bias->bidirectional());
  EXPECT_FALSE(dec_bias->bidirectional());
  int self = 0, crossing = 0;
  for (nn::Module* stack : std::vector<nn::Module*>{m->encoder.get(), m->decoder.get()})
    for (const auto& [n, mod] : stack->named_modules())
      if (auto* a = dynamic_cast<const Attention*>(mod)) {
        if (a->config().cross) {
          ++crossing;
          EXPECT_FALSE(a->positions()) << n;
        } else {
          ++self;
          EXPECT_EQ(a->positions().get(), stack == m->encoder.get() ? m->encoder->rel_pos.get()
                                                                    : m->decoder->rel_pos.get())
              << n;
          EXPECT_EQ(a->config().causal, stack == m->decoder.get()) << n;
        }
      }
  EXPECT_EQ(self, 5);
  EXPECT_EQ(crossing, 3);
}

TEST(EncoderDecoder, BartShapedCount) {
  auto m = seq2seq(kBart);
  auto block = [](int64_t d, int64_t f) {
    return (3 * d * d + 3 * d) + (d * d + d) + 2 * d + (d * f + f) + (f * d + d) + 2 * d;
  };
  const int64_t cross_params = (D * D + D) + (2 * D * D + 2 * D) + (D * D + D) + 2 * D;
  // Shared tokens; per stack a position table and the embeddings' LayerNorm; post-norm: no
  // final norm.
  const int64_t want =
      V * D + 2 * (CTX * D + 2 * D) + 2 * block(D, F) + 2 * (block(D, F) + cross_params);
  EXPECT_EQ(m->num_parameters(), want);
  EXPECT_EQ(m->decoder_start_token(), 2);
  EXPECT_FALSE(m->decoder->ln_final);
  EXPECT_TRUE(m->decoder->embed_norm);
}

struct Pass {
  Tensor memory, logits;
};

Pass run(EncoderDecoder& m, const Tensor& src, const Tensor& tgt, const Tensor& src_pad = {}) {
  nn::ForwardState es;
  es.key_padding = src_pad;
  Pass r;
  r.memory = m.encode(src, es);
  nn::ForwardState ds;
  ds.memory = r.memory;
  ds.memory_padding = src_pad;
  r.logits = m.forward(tgt, ds);
  return r;
}

TEST(EncoderDecoder, DecoderIsCausalAndReadsTheMemory) {
  for (const char* json : {kT5, kBart}) {
    auto m = seq2seq(json);
    Tensor src = token_ids({3, 4, 5, 6, 7}, {1, 5});
    Pass a = run(*m, src, token_ids({0, 8, 9, 10}, {1, 4}));
    Pass b = run(*m, src, token_ids({0, 8, 9, 11}, {1, 4}));
    EXPECT_ALL_CLOSE(a.logits.narrow(1, 0, 3), b.logits.narrow(1, 0, 3), 1e-12, 1e-12);
    Pass c = run(*m, token_ids({3, 4, 5, 6, 8}, {1, 5}), token_ids({0, 8, 9, 10}, {1, 4}));
    EXPECT_GT(ops::max(ops::abs(ops::sub(a.logits.select(1, 0), c.logits.select(1, 0)))).item(),
              1e-6);
    // The encoder is bidirectional: the last source token reaches the first memory position.
    EXPECT_GT(ops::max(ops::abs(ops::sub(a.memory.select(1, 0), c.memory.select(1, 0)))).item(),
              1e-6);
  }
}

TEST(EncoderDecoder, PaddedSourcePositionsDoNotMatter) {
  auto m = seq2seq(kT5);
  Tensor pad = from_vector(std::vector<bool>{1, 1, 1, 0, 0}, {1, 5});
  Tensor tgt = token_ids({0, 8, 9}, {1, 3});
  Pass a = run(*m, token_ids({3, 4, 5, 0, 0}, {1, 5}), tgt, pad);
  Pass b = run(*m, token_ids({3, 4, 5, 9, 1}, {1, 5}), tgt, pad);
  EXPECT_ALL_CLOSE(a.logits, b.logits, 1e-12, 1e-12);
  Pass alone = run(*m, token_ids({3, 4, 5}, {1, 3}), tgt);
  EXPECT_ALL_CLOSE(a.logits, alone.logits, 1e-12, 1e-10);
}

TEST(EncoderDecoder, T5ScalesTheTiedLogits) {
  auto m = seq2seq(kT5);
  nn::ForwardState es;
  Tensor mem = m->encode(token_ids({3, 4}, {1, 2}), es);
  nn::ForwardState ds;
  ds.memory = mem;
  Tensor h = m->decoder->hidden(token_ids({0, 5}, {1, 2}), ds);
  nn::ForwardState ds2;
  ds2.memory = mem;
  Vec want = ref_linear(values(h), values(m->shared->weight), {}, 2, D, V);
  for (double& v : want) v /= std::sqrt(double(D));
  EXPECT_ALL_CLOSE(m->forward(token_ids({0, 5}, {1, 2}), ds2), from_vector(want, {1, 2, V}), 1e-12,
                   1e-10);
  nn::ForwardState none;
  EXPECT_NE(error_of([&] {
              m->forward(token_ids({0}, {1, 1}), none);
            }).find("set state.memory = encode(source)"),
            std::string::npos);
}

// The models at their smallest: 11 tokens, 8 wide, one layer a stack.
std::string smallest(std::string json) {
  for (auto [from, to] : {std::pair<std::string, std::string>{R"("vocab": 19, "d_model": 16)",
                                                              R"("vocab": 11, "d_model": 8)"},
                          {R"("d_mlp": 24)", R"("d_mlp": 8)"},
                          {R"("n_decoder_layers": 3)", R"("n_decoder_layers": 1)"},
                          {R"("n_layers": 2)", R"("n_layers": 1)"}}) {
    const size_t at = json.find(from);
    if (at != std::string::npos) json.replace(at, from.size(), to);
  }
  return json;
}

TEST(EncoderDecoder, Gradcheck) {
  for (const char* json : {kT5, kBart}) {
    auto m = std::dynamic_pointer_cast<EncoderDecoder>(make_model(smallest(json)));
    ASSERT_TRUE(m);
    randomize(*m, 51, 0.5);
    Tensor src = token_ids({3, 4, 5, 6, 1, 2, 0, 0}, {2, 4});
    Tensor pad = from_vector(std::vector<bool>{1, 1, 1, 1, 1, 1, 0, 0}, {2, 4});
    Tensor tgt = token_ids({0, 8, 9, 0, 7, 7}, {2, 3});
    // What the encoder-decoder adds to the parts checked elsewhere (the encoder's stack, the
    // decoder's blocks): the shared embedding, the bias tables, cross-attention and its norm,
    // the embedding norms.
    std::vector<Tensor> in;
    for (auto& [n, p] : m->named_parameters())
      if (n.starts_with("shared") || n.find("rel_pos") != std::string::npos ||
          n.find("cross") != std::string::npos || n.starts_with("encoder.embeddings") ||
          n.starts_with("decoder.embed_norm"))
        in.push_back(p);
    EXPECT_GRADCHECK([&](const std::vector<Tensor>&) { return run(*m, src, tgt, pad).logits; }, in);
  }
}

// ---- generation -----------------------------------------------------------------------------

std::vector<int32_t> greedy_recomputing(EncoderDecoder& m, const Tensor& memory,
                                        std::vector<int64_t> seq, int64_t n) {
  autograd::NoGrad ng;
  std::vector<int32_t> out;
  for (int64_t i = 0; i < n; ++i) {
    nn::ForwardState st;
    st.memory = memory;
    Tensor logits = m.forward(from_vector(seq, {1, int64_t(seq.size())}), st);
    int32_t next = int32_t(ops::argmax(logits.select(1, int64_t(seq.size()) - 1), -1).item());
    out.push_back(next);
    seq.push_back(next);
  }
  return out;
}

TEST(EncoderDecoder, GenerationWithTheMemoryInTheKVCache) {
  for (const char* json : {kT5, kBart}) {
    SCOPED_TRACE(json);
    auto m = seq2seq(json, false);
    randomize(*m, 80, 0.5);
    m->eval();
    autograd::NoGrad ng;
    nn::ForwardState es;
    es.key_padding = from_vector(std::vector<bool>{1, 1, 1, 1, 1, 1, 1, 0, 0, 0}, {2, 5});
    Tensor src = token_ids({3, 4, 5, 6, 7, 9, 1, 0, 0, 0}, {2, 5});
    Tensor memory = m->encode(src, es);
    generation::GenerateOptions o;
    o.max_tokens = 12;
    o.memory = memory;
    o.memory_padding = es.key_padding;
    const int32_t start = int32_t(m->decoder_start_token());
    const std::vector<std::vector<int32_t>> prompts{{start}, {start, 5}};
    // Sampled (the same draws either way): the cached keys of the memory give what recomputing
    // everything gives, over varied continuations.
    o.temperature = 1.0;
    o.seed = 7;
    auto sampled = generation::generate(*m, prompts, o);
    o.use_cache = false;
    auto sampled_again = generation::generate(*m, prompts, o);
    for (int b = 0; b < 2; ++b) {
      EXPECT_EQ(sampled[size_t(b)].tokens, sampled_again[size_t(b)].tokens);
      const auto& t = sampled[size_t(b)].tokens;
      EXPECT_GT(std::set<int32_t>(t.begin(), t.end()).size(), 4u);
    }
    // Greedy: each row of the padded batch as alone, with its own memory (row 1 encoded
    // without padding).
    o.temperature = 0;
    o.use_cache = true;
    auto batch = generation::generate(*m, prompts, o);
    nn::ForwardState e1;
    Tensor m1 = m->encode(token_ids({9, 1}, {1, 2}), e1);
    EXPECT_EQ(batch[0].tokens,
              greedy_recomputing(*m, memory.narrow(0, 0, 1).contiguous(), {start}, 12));
    EXPECT_EQ(batch[1].tokens, greedy_recomputing(*m, m1, {start, 5}, 12));
  }
}

}  // namespace
}  // namespace kiln::layers::testing
