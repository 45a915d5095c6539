// The classification heads and the LSTM layer against plain loops, and their gradients in f64.
#include <algorithm>
#include <cmath>

#include "plugins/layers/heads.h"
#include "plugins/layers/lstm.h"
#include "tests/plugins/layers/layers_test_util.h"

namespace kiln::layers::testing {
namespace {

template <class M>
std::shared_ptr<M> randomized(std::shared_ptr<M> m, uint64_t seed) {
  randomize(*m, seed);
  return m;
}

TEST(Heads, SequenceHeadPoolsFirstOrMeanOverRealTokens) {
  const int64_t B = 2, T = 4, D = 6, C = 3;
  Tensor h = randn64({B, T, D}, 1);
  Tensor kp = from_vector(std::vector<bool>{1, 1, 0, 0, 1, 1, 1, 1}, {B, T});
  for (bool mean : {false, true})
    for (bool pooler : {false, true}) {
      SCOPED_TRACE(std::to_string(mean) + std::to_string(pooler));
      auto head = randomized(
          std::make_shared<SequenceHead>(D, C, pooler, mean ? Pooling::mean : Pooling::first, 0.0),
          2);
      nn::ForwardState st;
      st.key_padding = kp;
      Tensor got = head->forward(h, st);
      Vec hv = values(h), x(B * D, 0.0);
      std::vector<int> real{1, 1, 0, 0, 1, 1, 1, 1};
      for (int64_t b = 0; b < B; ++b) {
        int n = 0;
        for (int64_t t = 0; t < T; ++t) {
          if (mean ? !real[size_t(b * T + t)] : t > 0) continue;
          ++n;
          for (int64_t i = 0; i < D; ++i) x[size_t(b * D + i)] += hv[size_t((b * T + t) * D + i)];
        }
        for (int64_t i = 0; i < D; ++i) x[size_t(b * D + i)] /= n;
      }
      if (pooler) {
        x = ref_linear(x, values(head->pooler->weight), values(head->pooler->bias), B, D, D);
        for (double& v : x) v = std::tanh(v);
      }
      Vec want =
          ref_linear(x, values(head->classifier->weight), values(head->classifier->bias), B, D, C);
      EXPECT_ALL_CLOSE(got, from_vector(want, {B, C}), 1e-12, 1e-10);
      EXPECT_GRADCHECK(
          [&](const std::vector<Tensor>& v) {
            nn::ForwardState s;
            s.key_padding = kp;
            return head->forward(v[0], s);
          },
          with_parameters(*head, {randn64({B, T, D}, 3).requires_grad_()}));
    }
}

TEST(Heads, TokenAndSpanHeads) {
  const int64_t B = 2, T = 3, D = 5;
  Tensor h = randn64({B, T, D}, 4);
  // ELECTRA's discriminator head: dense, GELU, one logit.
  auto disc = randomized(std::make_shared<TokenHead>(D, 1, true, Activation::gelu, 0.0), 5);
  nn::ForwardState st;
  Vec y =
      ref_linear(values(h), values(disc->dense->weight), values(disc->dense->bias), B * T, D, D);
  for (double& v : y) v = 0.5 * v * (1 + std::erf(v / std::sqrt(2.0)));
  Vec want =
      ref_linear(y, values(disc->classifier->weight), values(disc->classifier->bias), B * T, D, 1);
  EXPECT_ALL_CLOSE(disc->forward(h, st), from_vector(want, {B, T, 1}), 1e-12, 1e-10);
  auto span = make(R"({"@component": "layer.span_prediction", "d_model": 5})");
  randomize(*span, 6);
  EXPECT_EQ(span->forward(h, st).shape(), (Shape{B, T, 2}));
  auto ner = make(R"({"@component": "layer.token_classification", "d_model": 5, "n_classes": 7,
                      "hidden": true, "activation": "relu"})");
  randomize(*ner, 7);
  EXPECT_EQ(ner->forward(h, st).shape(), (Shape{B, T, 7}));
  auto seq = make(R"({"@component": "layer.sequence_classification", "d_model": 5,
                      "n_classes": 4, "pooling": "mean"})");
  randomize(*seq, 9);
  EXPECT_EQ(seq->forward(h, st).shape(), (Shape{B, 4}));
  for (nn::Layer* head : {static_cast<nn::Layer*>(disc.get()), span.get(), ner.get()})
    EXPECT_GRADCHECK(
        [&](const std::vector<Tensor>& v) {
          nn::ForwardState s;
          return head->forward(v[0], s);
        },
        with_parameters(*head, {randn64({B, T, D}, 8).requires_grad_()}));
}

// ---- LSTM -----------------------------------------------------------------------------------

struct RefLSTM {
  int64_t B, T, I, C, P;
  Vec w_ih, w_hh, b_ih, b_hh, w_hr;
  double cell_clip = 0, proj_clip = 0;
};

double sigm(double v) {
  return 1 / (1 + std::exp(-v));
}

// One direction by plain loops; keep (B*T, 1 = advance) may be empty.
Vec ref_lstm(const Vec& x, const RefLSTM& r, bool reverse, const std::vector<int>& keep) {
  const int64_t B = r.B, T = r.T, I = r.I, C = r.C, P = r.P;
  Vec out(static_cast<size_t>(B * T * P));
  for (int64_t b = 0; b < B; ++b) {
    Vec h(static_cast<size_t>(P), 0.0), c(size_t(C), 0.0);
    for (int64_t s = 0; s < T; ++s) {
      const int64_t t = reverse ? T - 1 - s : s;
      if (keep.empty() || keep[size_t(b * T + t)]) {
        Vec g(static_cast<size_t>(4 * C));
        for (int64_t j = 0; j < 4 * C; ++j) {
          double v = (r.b_ih.empty() ? 0 : r.b_ih[size_t(j)] + r.b_hh[size_t(j)]);
          for (int64_t i = 0; i < I; ++i)
            v += r.w_ih[size_t(j * I + i)] * x[size_t((b * T + t) * I + i)];
          for (int64_t i = 0; i < P; ++i) v += r.w_hh[size_t(j * P + i)] * h[size_t(i)];
          g[size_t(j)] = v;
        }
        Vec hc(static_cast<size_t>(C));
        for (int64_t k = 0; k < C; ++k) {
          double cn = sigm(g[size_t(C + k)]) * c[size_t(k)] +
                      sigm(g[size_t(k)]) * std::tanh(g[size_t(2 * C + k)]);
          if (r.cell_clip > 0) cn = std::clamp(cn, -r.cell_clip, r.cell_clip);
          c[size_t(k)] = cn;
          hc[size_t(k)] = sigm(g[size_t(3 * C + k)]) * std::tanh(cn);
        }
        if (r.w_hr.empty()) {
          h = hc;
        } else {
          for (int64_t p = 0; p < P; ++p) {
            double v = 0;
            for (int64_t k = 0; k < C; ++k) v += r.w_hr[size_t(p * C + k)] * hc[size_t(k)];
            h[size_t(p)] = r.proj_clip > 0 ? std::clamp(v, -r.proj_clip, r.proj_clip) : v;
          }
        }
      }
      for (int64_t p = 0; p < P; ++p) out[size_t((b * T + t) * P + p)] = h[size_t(p)];
    }
  }
  return out;
}

RefLSTM ref_of(const LSTM& l, const LSTM::Weights& w, int64_t B, int64_t T) {
  RefLSTM r{B,
            T,
            l.config().d_model,
            l.config().d_hidden,
            l.d_direction(),
            values(w.weight_ih),
            values(w.weight_hh),
            Vec(),
            Vec(),
            Vec()};
  if (w.bias_ih.defined()) r.b_ih = values(w.bias_ih), r.b_hh = values(w.bias_hh);
  if (w.weight_hr.defined()) r.w_hr = values(w.weight_hr);
  r.cell_clip = l.config().cell_clip;
  r.proj_clip = l.config().proj_clip;
  return r;
}

std::vector<std::pair<std::string, LSTMConfig>> lstm_cases() {
  std::vector<std::pair<std::string, LSTMConfig>> v;
  LSTMConfig f;
  f.d_model = 3;
  f.d_hidden = 4;
  v.push_back({"forward", f});
  LSTMConfig b = f;
  b.direction = LSTMConfig::Direction::backward;
  v.push_back({"backward", b});
  LSTMConfig both = f;
  both.direction = LSTMConfig::Direction::both;
  both.bias = false;
  v.push_back({"both, no bias", both});
  LSTMConfig p = f;
  p.d_proj = 2;
  p.cell_clip = 0.8;
  p.proj_clip = 0.5;
  p.direction = LSTMConfig::Direction::both;
  v.push_back({"projected, clipped", p});
  return v;
}

TEST(LSTMLayer, MatchesPlainLoops) {
  const int64_t B = 2, T = 5;
  Tensor x = randn64({B, T, 3}, 20);
  std::vector<int> keep{1, 1, 1, 0, 0, 0, 1, 1, 1, 1};
  for (const auto& [name, c] : lstm_cases())
    for (bool padded : {false, true}) {
      SCOPED_TRACE(name + (padded ? " padded" : ""));
      auto l = randomized(std::make_shared<LSTM>(c), 21);
      nn::ForwardState st;
      if (padded) st.key_padding = from_vector(std::vector<bool>(keep.begin(), keep.end()), {B, T});
      Tensor got = l->forward(x, st);
      const std::vector<int> k = padded ? keep : std::vector<int>();
      const int64_t P = l->d_direction();
      Vec want;
      if (c.direction == LSTMConfig::Direction::forward)
        want = ref_lstm(values(x), ref_of(*l, l->fwd, B, T), false, k);
      else if (c.direction == LSTMConfig::Direction::backward)
        want = ref_lstm(values(x), ref_of(*l, l->bwd, B, T), true, k);
      else {
        Vec f = ref_lstm(values(x), ref_of(*l, l->fwd, B, T), false, k);
        Vec b = ref_lstm(values(x), ref_of(*l, l->bwd, B, T), true, k);
        for (int64_t r = 0; r < B * T; ++r) {
          want.insert(want.end(), f.begin() + r * P, f.begin() + (r + 1) * P);
          want.insert(want.end(), b.begin() + r * P, b.begin() + (r + 1) * P);
        }
      }
      EXPECT_EQ(got.shape(), (Shape{B, T, l->d_out()}));
      EXPECT_ALL_CLOSE(got, from_vector(want, {B, T, l->d_out()}), 1e-12, 1e-10);
    }
}

TEST(LSTMLayer, PaddedRowEqualsTheRowAlone) {
  LSTMConfig c;
  c.d_model = 3;
  c.d_hidden = 4;
  c.direction = LSTMConfig::Direction::both;
  auto l = randomized(std::make_shared<LSTM>(c), 22);
  Tensor x = randn64({1, 5, 3}, 23);
  nn::ForwardState st;
  st.key_padding = from_vector(std::vector<bool>{1, 1, 1, 0, 0}, {1, 5});
  Tensor padded = l->forward(x, st);
  nn::ForwardState alone;
  Tensor want = l->forward(x.narrow(1, 0, 3).contiguous(), alone);
  EXPECT_ALL_CLOSE(padded.narrow(1, 0, 3), want, 1e-12, 1e-12);
}

TEST(LSTMLayer, Gradcheck) {
  for (const auto& [name, c] : lstm_cases())
    for (bool padded : {false, true}) {
      SCOPED_TRACE(name + (padded ? " padded" : ""));
      auto l = randomized(std::make_shared<LSTM>(c), 24);
      Tensor kp = from_vector(std::vector<bool>{1, 1, 0, 1, 1, 1}, {2, 3});
      GradcheckOptions o;
      o.max_kink_fraction = 0.1;  // the clips
      EXPECT_TRUE(gradcheck(
          [&](const std::vector<Tensor>& v) {
            nn::ForwardState st;
            if (padded) st.key_padding = kp;
            return l->forward(v[0], st);
          },
          with_parameters(*l, {randn64({2, 3, 3}, 25).requires_grad_()}), o));
    }
}

TEST(LSTMLayer, ComponentAndNames) {
  auto l = make(R"({"@component": "layer.lstm", "d_model": 4, "d_hidden": 6, "d_proj": 3,
                    "direction": "both"})");
  std::vector<std::string> names;
  for (auto& [n, p] : l->named_parameters()) names.push_back(n);
  EXPECT_EQ(names,
            (std::vector<std::string>{"weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr",
                                      "weight_ih_reverse", "weight_hh_reverse", "bias_ih_reverse",
                                      "bias_hh_reverse", "weight_hr_reverse"}));
  // PyTorch's shapes for LSTM(4, 6, proj_size=3, bidirectional=True).
  EXPECT_EQ(l->num_parameters(), 2 * (24 * 4 + 24 * 3 + 24 + 24 + 3 * 6));
  nn::ForwardState st;
  EXPECT_EQ(l->forward(randn64({2, 5, 4}, 1).to(DType::f32), st).shape(), (Shape{2, 5, 6}));
  EXPECT_NE(error_of([&] {
              l->forward(randn64({2, 5, 3}, 1), st);
            }).find("lstm: expected input [B, T, 4], got [2, 5, 3]"),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::layers::testing
