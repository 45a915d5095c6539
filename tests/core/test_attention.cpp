// Fused scaled-dot-product attention: against a plain-loop f64 reference written here (values
// and gradients, every option, block-boundary sizes), finite-difference gradient checks, dtypes,
// thread-count independence, memory that grows linearly with T, and errors.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <optional>

#include "tests/core/test_util.h"

namespace kiln {
namespace {

using namespace ops;
using testing::randn64;

// ---- the plain-loop reference ----------------------------------------------------------------

struct PlainResult {
  Tensor out, dq, dk, dv, dbias_full;  // f64; dbias_full is dS over [B, H, T, S]
};

// Attention with the [T, S] probabilities of each head materialised, straight from the
// definition: P = softmax over visible keys of scale q.k + bias, out = sum_j P_j z_j v_j with
// z_j = keep_j / (1 - p). With dout, also the gradients by the chain rule through the softmax.
PlainResult plain_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                            const AttentionOptions& o, const RngState& rng,
                            const Tensor& dout = Tensor()) {
  const int64_t B = q.size(0), H = q.size(1), T = q.size(2), D = q.size(3);
  const int64_t Hkv = k.size(1), S = k.size(2), Dv = v.size(3), G = H / Hkv;
  const Shape full{B, H, T, S};
  std::vector<double> qv = q.to_vector<double>(), kv = k.to_vector<double>(),
                      vv = v.to_vector<double>();
  std::vector<double> bias = o.bias.defined() ? o.bias.expand(full).to_vector<double>()
                                              : std::vector<double>(size_t(B * H * T * S), 0.0);
  std::vector<bool> mask = o.mask.defined() ? o.mask.expand(full).to_vector<bool>()
                                            : std::vector<bool>(size_t(B * H * T * S), true);
  std::vector<double> dov = dout.defined() ? dout.to_vector<double>() : std::vector<double>();
  const double scale = o.scale.value_or(1.0 / std::sqrt(double(D)));
  std::vector<double> out(size_t(B * H * T * Dv), 0.0), dq(qv.size(), 0.0), dk(kv.size(), 0.0),
      dv(vv.size(), 0.0), dbias(size_t(B * H * T * S), 0.0);
  auto Q = [&](int64_t b, int64_t h, int64_t i, int64_t d) {
    return ((b * H + h) * T + i) * D + d;
  };
  auto K = [&](int64_t b, int64_t h, int64_t j, int64_t d) {
    return ((b * Hkv + h) * S + j) * D + d;
  };
  auto V = [&](int64_t b, int64_t h, int64_t j, int64_t e) {
    return ((b * Hkv + h) * S + j) * Dv + e;
  };
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < H; ++h)
      for (int64_t i = 0; i < T; ++i) {
        const int64_t kh = h / G, row = (b * H + h) * T + i;
        const size_t Sn = static_cast<size_t>(S);
        std::vector<double> s(Sn), P(Sn, 0.0), z(Sn, 1.0);
        std::vector<bool> vis(Sn);
        double m = -std::numeric_limits<double>::infinity();
        for (int64_t j = 0; j < S; ++j) {
          bool see = mask[size_t(row * S + j)];
          if (o.causal || o.window > 0) see = see && j <= i + S - T;
          if (o.window > 0) see = see && j > i + S - T - o.window;
          vis[size_t(j)] = see;
          double dot = 0;
          for (int64_t d = 0; d < D; ++d)
            dot += qv[size_t(Q(b, h, i, d))] * kv[size_t(K(b, kh, j, d))];
          s[size_t(j)] = scale * dot + bias[size_t(row * S + j)];
          if (see) m = std::max(m, s[size_t(j)]);
          if (o.dropout > 0)
            z[size_t(j)] = double(uniform_at(rng, uint64_t(row * S + j))) >= o.dropout
                               ? 1.0 / (1.0 - o.dropout)
                               : 0.0;
        }
        if (m == -std::numeric_limits<double>::infinity()) continue;  // sees no key: zeros
        double l = 0;
        for (int64_t j = 0; j < S; ++j)
          if (vis[size_t(j)]) l += (P[size_t(j)] = std::exp(s[size_t(j)] - m));
        for (int64_t j = 0; j < S; ++j) P[size_t(j)] /= l;
        for (int64_t j = 0; j < S; ++j)
          for (int64_t e = 0; e < Dv; ++e)
            out[size_t(row * Dv + e)] += P[size_t(j)] * z[size_t(j)] * vv[size_t(V(b, kh, j, e))];
        if (!dout.defined()) continue;
        std::vector<double> dP(Sn);
        double PdP = 0;
        for (int64_t j = 0; j < S; ++j) {
          double dot = 0;
          for (int64_t e = 0; e < Dv; ++e)
            dot += dov[size_t(row * Dv + e)] * vv[size_t(V(b, kh, j, e))];
          dP[size_t(j)] = z[size_t(j)] * dot;
          PdP += P[size_t(j)] * dP[size_t(j)];
        }
        for (int64_t j = 0; j < S; ++j) {
          const double dS = P[size_t(j)] * (dP[size_t(j)] - PdP);
          dbias[size_t(row * S + j)] = dS;
          for (int64_t d = 0; d < D; ++d) {
            dq[size_t(Q(b, h, i, d))] += scale * dS * kv[size_t(K(b, kh, j, d))];
            dk[size_t(K(b, kh, j, d))] += scale * dS * qv[size_t(Q(b, h, i, d))];
          }
          for (int64_t e = 0; e < Dv; ++e)
            dv[size_t(V(b, kh, j, e))] += P[size_t(j)] * z[size_t(j)] * dov[size_t(row * Dv + e)];
        }
      }
  PlainResult r;
  r.out = from_vector(out, {B, H, T, Dv});
  if (dout.defined()) {
    r.dq = from_vector(dq, q.shape());
    r.dk = from_vector(dk, k.shape());
    r.dv = from_vector(dv, v.shape());
    r.dbias_full = from_vector(dbias, full);
  }
  return r;
}

// ---- cases -----------------------------------------------------------------------------------

enum class BiasKind { none, alibi, learned };

struct Case {
  std::string name;
  int64_t B = 2, H = 4, Hkv = 4, T = 70, S = 70, D = 8, Dv = 8;
  bool causal = false;
  int64_t window = 0;
  bool mask = false;  // random [B, 1, T, S] keep-mask with some rows fully hidden
  BiasKind bias = BiasKind::none;
  double dropout = 0.0;
  std::optional<double> scale = std::nullopt;
  bool noncontig = false;  // q, k, v as transposed views of their leaves
};

std::ostream& operator<<(std::ostream& os, const Case& c) {
  return os << c.name;
}

// Leaves (contiguous, what gradients are taken of) and the operands built from them.
struct Inputs {
  Tensor q_leaf, k_leaf, v_leaf, bias, mask;
  const Case* c = nullptr;
  Tensor q(const Tensor& leaf) const { return c->noncontig ? leaf.transpose(1, 2) : leaf; }
  Tensor k(const Tensor& leaf) const { return c->noncontig ? leaf.transpose(1, 2) : leaf; }
  Tensor v(const Tensor& leaf) const { return c->noncontig ? leaf.transpose(2, 3) : leaf; }
  Inputs to(DType t) const {
    Inputs r = *this;
    r.q_leaf = q_leaf.to(t), r.k_leaf = k_leaf.to(t), r.v_leaf = v_leaf.to(t);
    if (bias.defined()) r.bias = bias.to(t);
    return r;
  }
};

Inputs make_inputs(const Case& c, uint64_t seed = 1) {
  Inputs in;
  in.c = &c;
  in.q_leaf =
      c.noncontig ? randn64({c.B, c.T, c.H, c.D}, seed) : randn64({c.B, c.H, c.T, c.D}, seed);
  in.k_leaf = c.noncontig ? randn64({c.B, c.S, c.Hkv, c.D}, seed + 1)
                          : randn64({c.B, c.Hkv, c.S, c.D}, seed + 1);
  in.v_leaf = c.noncontig ? randn64({c.B, c.Hkv, c.Dv, c.S}, seed + 2)
                          : randn64({c.B, c.Hkv, c.S, c.Dv}, seed + 2);
  if (c.bias == BiasKind::alibi) {
    // ALiBi: head h adds slope_h * j (a per-row constant shift away from slope_h (j - i)), with
    // the geometric slopes 2^(-8 (h+1) / H), broadcast over batch and queries.
    std::vector<double> b(size_t(c.H * c.S));
    for (int64_t h = 0; h < c.H; ++h)
      for (int64_t j = 0; j < c.S; ++j)
        b[size_t(h * c.S + j)] = std::pow(2.0, -8.0 * double(h + 1) / double(c.H)) * double(j);
    in.bias = from_vector(b, {1, c.H, 1, c.S});
  } else if (c.bias == BiasKind::learned) {
    in.bias = randn64({c.H, c.T, c.S}, seed + 3);
  }
  if (c.mask) {
    Tensor u = testing::rand64({c.B, 1, c.T, c.S}, 0.0, 1.0, seed + 4);
    std::vector<double> uv = u.to_vector<double>();
    std::vector<bool> m(uv.size());
    for (size_t x = 0; x < uv.size(); ++x) {
      const int64_t i = int64_t(x / size_t(c.S)) % c.T;
      m[x] = uv[x] < 0.7 && i % 7 != 3;  // rows 3, 10, 17, ... see nothing
    }
    in.mask = from_vector(m, {c.B, 1, c.T, c.S});
  }
  return in;
}

AttentionOptions options_of(const Case& c, const Inputs& in, Generator* gen) {
  AttentionOptions o;
  o.causal = c.causal;
  o.window = c.window;
  o.mask = in.mask;
  o.bias = in.bias;
  o.dropout = c.dropout;
  o.generator = gen;
  o.scale = c.scale;
  return o;
}

struct FusedResult {
  Tensor out, dq, dk, dv, dbias;
};

// Runs the fused op (or the reference) forward and backward (with dout) on the leaves of `in`.
FusedResult run_fused(const Inputs& in, const Tensor& dout, uint64_t seed = 17,
                      bool reference = false) {
  const Case& c = *in.c;
  Tensor ql = in.q_leaf.detach().requires_grad_(), kl = in.k_leaf.detach().requires_grad_(),
         vl = in.v_leaf.detach().requires_grad_();
  Inputs run = in;
  if (in.bias.defined()) run.bias = in.bias.detach().requires_grad_();
  Generator gen(seed);
  auto* op = reference ? &attention_reference : &scaled_dot_product_attention;
  Tensor out = op(in.q(ql), in.k(kl), in.v(vl), options_of(c, run, &gen));
  out.backward(dout.to(out.dtype()));
  return {out, in.q(ql.grad()), in.k(kl.grad()), in.v(vl.grad()),
          run.bias.defined() ? run.bias.grad() : Tensor()};
}

PlainResult run_plain(const Inputs& in, const Tensor& dout, uint64_t seed = 17) {
  Generator gen(seed);
  return plain_attention(in.q(in.q_leaf), in.k(in.k_leaf), in.v(in.v_leaf),
                         options_of(*in.c, in, &gen), gen.state(), dout);
}

// ---- fused vs plain loops, f64 and lower precisions -------------------------------------------

class AttentionCase : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionCase, FusedMatchesPlainLoopsF64) {
  const Case& c = GetParam();
  Inputs in = make_inputs(c);
  Tensor dout = randn64({c.B, c.H, c.T, c.Dv}, 99);
  FusedResult f = run_fused(in, dout);
  PlainResult r = run_plain(in, dout);
  EXPECT_ALL_CLOSE(f.out, r.out, 1e-12, 1e-10);
  EXPECT_ALL_CLOSE(f.dq, r.dq, 1e-11, 1e-9);
  EXPECT_ALL_CLOSE(f.dk, r.dk, 1e-11, 1e-9);
  EXPECT_ALL_CLOSE(f.dv, r.dv, 1e-11, 1e-9);
  if (in.bias.defined()) {
    EXPECT_ALL_CLOSE(f.dbias, sum_to(r.dbias_full, in.bias.shape()), 1e-11, 1e-9);
  }
}

TEST_P(AttentionCase, FusedMatchesPlainLoopsF32) {
  const Case& c = GetParam();
  Inputs in = make_inputs(c).to(DType::f32);
  Tensor dout = randn64({c.B, c.H, c.T, c.Dv}, 99).to(DType::f32);
  FusedResult f = run_fused(in, dout);
  PlainResult r = run_plain(in, dout);
  EXPECT_EQ(f.out.dtype(), DType::f32);
  EXPECT_ALL_CLOSE(f.out, r.out, 2e-5, 1e-4);
  EXPECT_ALL_CLOSE(f.dq, r.dq, 1e-4, 1e-3);
  EXPECT_ALL_CLOSE(f.dk, r.dk, 1e-4, 1e-3);
  EXPECT_ALL_CLOSE(f.dv, r.dv, 1e-4, 1e-3);
  if (in.bias.defined()) {
    EXPECT_ALL_CLOSE(f.dbias, sum_to(r.dbias_full, in.bias.shape()), 1e-4, 1e-3);
  }
}

TEST_P(AttentionCase, FusedMatchesPlainLoopsHalf) {
  const Case& c = GetParam();
  for (DType t : {DType::bf16, DType::f16}) {
    SCOPED_TRACE(dtype_name(t));
    Inputs in = make_inputs(c).to(t);
    Tensor dout = randn64({c.B, c.H, c.T, c.Dv}, 99).to(t);
    FusedResult f = run_fused(in, dout);
    PlainResult r = run_plain(in, dout);  // on the rounded inputs, in f64
    EXPECT_EQ(f.out.dtype(), t);
    EXPECT_EQ(f.dq.dtype(), t);
    const double tol = t == DType::bf16 ? 3e-2 : 5e-3;
    EXPECT_ALL_CLOSE(f.out, r.out, tol, tol);
    EXPECT_ALL_CLOSE(f.dq, r.dq, 2 * tol, 2 * tol);
    EXPECT_ALL_CLOSE(f.dk, r.dk, 2 * tol, 2 * tol);
    EXPECT_ALL_CLOSE(f.dv, r.dv, 2 * tol, 2 * tol);
    if (in.bias.defined()) {
      EXPECT_ALL_CLOSE(f.dbias, sum_to(r.dbias_full, in.bias.shape()), 4 * tol, 2 * tol);
    }
  }
}

TEST_P(AttentionCase, FusedMatchesReference) {
  const Case& c = GetParam();
  struct Tol {
    DType t;
    double out, grad;
  };
  for (Tol tol :
       {Tol{DType::f64, 1e-12, 1e-10}, Tol{DType::f32, 2e-5, 1e-4}, Tol{DType::bf16, 3e-2, 1e-1}}) {
    SCOPED_TRACE(dtype_name(tol.t));
    Inputs in = make_inputs(c).to(tol.t);
    Tensor dout = randn64({c.B, c.H, c.T, c.Dv}, 99).to(tol.t);
    FusedResult f = run_fused(in, dout);
    FusedResult r = run_fused(in, dout, 17, /*reference=*/true);
    EXPECT_ALL_CLOSE(f.out, r.out, tol.out, tol.out);
    EXPECT_ALL_CLOSE(f.dq, r.dq, tol.grad, tol.grad);
    EXPECT_ALL_CLOSE(f.dk, r.dk, tol.grad, tol.grad);
    EXPECT_ALL_CLOSE(f.dv, r.dv, tol.grad, tol.grad);
    if (in.bias.defined()) {
      EXPECT_ALL_CLOSE(f.dbias, r.dbias, tol.grad, tol.grad);
    }
  }
}

// Sizes straddle the 64-row / 64-key tiles (70 = 64 + 6, 133 = 2 * 64 + 5, ...).
const Case kCases[] = {
    {.name = "plain"},
    {.name = "causal", .causal = true},
    {.name = "causal_kv_cache", .T = 37, .S = 133, .causal = true},
    {.name = "causal_more_queries_than_keys", .T = 100, .S = 70, .causal = true},
    {.name = "not_causal_t_ne_s", .T = 37, .S = 133},
    {.name = "mask_with_hidden_rows", .mask = true},
    {.name = "mask_and_causal", .T = 65, .S = 129, .causal = true, .mask = true},
    {.name = "alibi_bias", .causal = true, .bias = BiasKind::alibi},
    {.name = "learned_bias", .T = 66, .S = 131, .bias = BiasKind::learned},
    {.name = "gqa_2_kv_heads", .Hkv = 2, .causal = true},
    {.name = "gqa_1_kv_head", .Hkv = 1},
    {.name = "window", .T = 70, .S = 133, .causal = true, .window = 20},
    {.name = "window_implies_causal", .window = 16},
    {.name = "window_wider_than_sequence", .causal = true, .window = 1000},
    {.name = "dropout", .dropout = 0.2},
    {.name = "dropout_causal_gqa", .Hkv = 2, .causal = true, .dropout = 0.3},
    {.name = "custom_scale", .scale = 0.37},
    {.name = "dv_ne_d", .D = 8, .Dv = 5},
    {.name = "noncontiguous", .Hkv = 2, .noncontig = true},
    {.name = "exact_tiles", .T = 64, .S = 128, .causal = true},
    {.name = "one_query_one_key", .T = 1, .S = 1},
    {.name = "one_query_decoding", .T = 1, .S = 97, .causal = true},
    {.name = "everything",
     .B = 2,
     .H = 4,
     .Hkv = 2,
     .T = 67,
     .S = 131,
     .D = 6,
     .Dv = 5,
     .causal = true,
     .window = 90,
     .mask = true,
     .bias = BiasKind::learned,
     .dropout = 0.25,
     .scale = 0.5,
     .noncontig = true},
};

INSTANTIATE_TEST_SUITE_P(Attention, AttentionCase, ::testing::ValuesIn(kCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// ---- finite-difference gradient checks (f64, small sizes) ------------------------------------

class AttentionGradcheck : public ::testing::TestWithParam<Case> {};

TEST_P(AttentionGradcheck, Gradcheck) {
  const Case& c = GetParam();
  Inputs in = make_inputs(c, 5);
  std::vector<Tensor> leaves{in.q_leaf.requires_grad_(), in.k_leaf.requires_grad_(),
                             in.v_leaf.requires_grad_()};
  if (in.bias.defined()) leaves.push_back(in.bias.requires_grad_());
  Generator gen;
  auto fn = [&](const std::vector<Tensor>& x) {
    gen.manual_seed(7);  // the same dropout mask for every evaluation
    Inputs run = in;
    run.bias = x.size() > 3 ? x[3] : Tensor();
    return scaled_dot_product_attention(in.q(x[0]), in.k(x[1]), in.v(x[2]),
                                        options_of(c, run, &gen));
  };
  EXPECT_GRADCHECK(fn, leaves);
}

const Case kGradCases[] = {
    {.name = "plain", .B = 1, .H = 2, .Hkv = 2, .T = 3, .S = 5, .D = 3, .Dv = 2},
    {.name = "causal", .B = 1, .H = 2, .Hkv = 2, .T = 3, .S = 5, .D = 3, .Dv = 2, .causal = true},
    {.name = "causal_more_queries",
     .B = 1,
     .H = 2,
     .Hkv = 2,
     .T = 5,
     .S = 3,
     .D = 3,
     .Dv = 2,
     .causal = true},
    {.name = "mask", .B = 2, .H = 2, .Hkv = 2, .T = 5, .S = 4, .D = 3, .Dv = 2, .mask = true},
    {.name = "alibi_bias",
     .B = 1,
     .H = 2,
     .Hkv = 2,
     .T = 3,
     .S = 5,
     .D = 3,
     .Dv = 2,
     .bias = BiasKind::alibi},
    {.name = "learned_bias",
     .B = 2,
     .H = 2,
     .Hkv = 2,
     .T = 3,
     .S = 4,
     .D = 3,
     .Dv = 2,
     .causal = true,
     .bias = BiasKind::learned},
    {.name = "gqa", .B = 1, .H = 4, .Hkv = 2, .T = 3, .S = 4, .D = 3, .Dv = 2, .causal = true},
    {.name = "gqa_1_kv_head", .B = 1, .H = 3, .Hkv = 1, .T = 3, .S = 4, .D = 3, .Dv = 2},
    {.name = "window",
     .B = 1,
     .H = 2,
     .Hkv = 2,
     .T = 4,
     .S = 6,
     .D = 3,
     .Dv = 2,
     .causal = true,
     .window = 2},
    {.name = "dropout", .B = 1, .H = 2, .Hkv = 2, .T = 3, .S = 5, .D = 3, .Dv = 2, .dropout = 0.3},
    {.name = "custom_scale",
     .B = 1,
     .H = 2,
     .Hkv = 2,
     .T = 3,
     .S = 5,
     .D = 3,
     .Dv = 2,
     .scale = 0.9},
    {.name = "noncontiguous",
     .B = 1,
     .H = 2,
     .Hkv = 1,
     .T = 3,
     .S = 5,
     .D = 3,
     .Dv = 4,
     .noncontig = true},
    {.name = "everything",
     .B = 1,
     .H = 4,
     .Hkv = 2,
     .T = 4,
     .S = 6,
     .D = 3,
     .Dv = 2,
     .causal = true,
     .window = 4,
     .mask = true,
     .bias = BiasKind::learned,
     .dropout = 0.2,
     .scale = 0.8,
     .noncontig = true},
};

INSTANTIATE_TEST_SUITE_P(Attention, AttentionGradcheck, ::testing::ValuesIn(kGradCases),
                         [](const ::testing::TestParamInfo<Case>& i) { return i.param.name; });

// ---- semantics -------------------------------------------------------------------------------

TEST(Attention, KvCacheRowsMatchTheFullCausalSequence) {
  // The last T queries of a causal pass over S positions see what a T-query pass over the same
  // S keys sees: the causal mask is aligned at the end.
  const int64_t S = 90, T = 13;
  Tensor q = randn64({1, 2, S, 8}, 1), k = randn64({1, 2, S, 8}, 2), v = randn64({1, 2, S, 8}, 3);
  AttentionOptions o;
  o.causal = true;
  Tensor full = scaled_dot_product_attention(q, k, v, o);
  Tensor tail = scaled_dot_product_attention(q.narrow(2, S - T, T), k, v, o);
  EXPECT_ALL_CLOSE(tail, full.narrow(2, S - T, T), 1e-13, 1e-12);
}

TEST(Attention, RowsThatSeeNoKeyGiveZerosAndZeroGradient) {
  // T > S with the causal mask: query i sees keys j <= i - 4, so rows 0..3 see nothing.
  Tensor q = randn64({1, 1, 6, 4}, 1).requires_grad_(),
         k = randn64({1, 1, 2, 4}, 2).requires_grad_(),
         v = randn64({1, 1, 2, 3}, 3).requires_grad_();
  AttentionOptions o;
  o.causal = true;
  Tensor out = scaled_dot_product_attention(q, k, v, o);
  out.backward(ones_like(out));
  std::vector<double> ov = out.to_vector<double>(), gq = q.grad().to_vector<double>();
  for (int i = 0; i < 4; ++i) {
    for (int e = 0; e < 3; ++e) EXPECT_EQ(ov[size_t(i * 3 + e)], 0.0);
    for (int d = 0; d < 4; ++d) EXPECT_EQ(gq[size_t(i * 4 + d)], 0.0);
  }
  EXPECT_NE(ov[4 * 3], 0.0);
  for (double x : k.grad().to_vector<double>()) EXPECT_TRUE(std::isfinite(x));
}

TEST(Attention, EmptySequences) {
  // No keys: every row sees nothing and gives zeros; no queries: an empty output.
  Tensor q = randn64({2, 2, 3, 4}, 1).requires_grad_();
  Tensor k = randn64({2, 2, 0, 4}, 2).requires_grad_(),
         v = randn64({2, 2, 0, 5}, 3).requires_grad_();
  Tensor out = scaled_dot_product_attention(q, k, v);
  EXPECT_EQ(out.shape(), (Shape{2, 2, 3, 5}));
  for (double x : out.to_vector<double>()) EXPECT_EQ(x, 0.0);
  out.backward(ones_like(out));
  for (double x : q.grad().to_vector<double>()) EXPECT_EQ(x, 0.0);
  Tensor none = scaled_dot_product_attention(randn64({2, 2, 0, 4}, 4), randn64({2, 2, 6, 4}, 5),
                                             randn64({2, 2, 6, 5}, 6));
  EXPECT_EQ(none.shape(), (Shape{2, 2, 0, 5}));
}

TEST(Attention, DefaultScaleIsInverseSqrtHeadDim) {
  Tensor q = randn64({1, 2, 5, 9}, 1), k = randn64({1, 2, 7, 9}, 2), v = randn64({1, 2, 7, 4}, 3);
  AttentionOptions a, b;
  b.scale = 1.0 / 3.0;
  EXPECT_ALL_CLOSE(scaled_dot_product_attention(q, k, v, a),
                   scaled_dot_product_attention(q, k, v, b), 0, 0);
}

TEST(Attention, DropoutDrawsFromTheGeneratorAndReplays) {
  Tensor q = randn64({2, 2, 5, 4}, 1), k = randn64({2, 2, 6, 4}, 2), v = randn64({2, 2, 6, 4}, 3);
  Generator gen(3);
  AttentionOptions o;
  o.dropout = 0.5;
  o.generator = &gen;
  const RngState s0 = gen.state();
  Tensor a = scaled_dot_product_attention(q, k, v, o);
  EXPECT_EQ(gen.state().offset, s0.offset + (2 * 2 * 5 * 6 + 3) / 4);
  Tensor b = scaled_dot_product_attention(q, k, v, o);
  EXPECT_FALSE(testing::all_close(a, b, 1e-3, 0));
  gen.set_state(s0);
  EXPECT_ALL_CLOSE(scaled_dot_product_attention(q, k, v, o), a, 0, 0);
}

// ---- packed q/k/v -----------------------------------------------------------------------------

// qkv [B, T, (H + 2 Hkv) D] split into [B, H, T, D] heads the plain way (copies).
struct Split {
  Tensor q, k, v;
};
Split split_heads(const Tensor& qkv, int64_t H, int64_t Hkv) {
  const int64_t B = qkv.size(0), T = qkv.size(1), D = qkv.size(2) / (H + 2 * Hkv);
  auto part = [&](int64_t col, int64_t n) {
    return qkv.narrow(2, col, n * D).reshape({B, T, n, D}).permute({0, 2, 1, 3}).contiguous();
  };
  return {part(0, H), part(H * D, Hkv), part((H + Hkv) * D, Hkv)};
}

TEST(Attention, PackedMatchesTheSplitHeads) {
  // GQA (H = 4, Hkv = 2), causal, a key mask and a learned bias; the gradients of qkv and bias.
  const int64_t B = 2, T = 70, H = 4, Hkv = 2, D = 8;
  Tensor qkv = randn64({B, T, (H + 2 * Hkv) * D}, 1);
  Tensor bias = randn64({H, T, T}, 2);
  Tensor dz = randn64({B, T, H, D}, 3);
  Inputs masks = make_inputs({.name = "m", .B = B, .H = H, .T = T, .S = T, .mask = true});
  auto options = [&](const Tensor& b) {
    AttentionOptions o;
    o.causal = true;
    o.mask = masks.mask;
    o.bias = b;
    return o;
  };
  Tensor x = qkv.detach().requires_grad_(), b = bias.detach().requires_grad_();
  Tensor z = packed_attention(x, H, Hkv, options(b));
  ASSERT_EQ(z.shape(), (Shape{B, T, H, D}));
  EXPECT_TRUE(z.is_contiguous());
  z.backward(dz);

  Tensor x2 = qkv.detach().requires_grad_(), b2 = bias.detach().requires_grad_();
  Split s = split_heads(x2, H, Hkv);
  Tensor ref = scaled_dot_product_attention(s.q, s.k, s.v, options(b2)).permute({0, 2, 1, 3});
  ref.backward(dz);
  EXPECT_ALL_CLOSE(z, ref, 1e-13, 1e-12);
  EXPECT_ALL_CLOSE(x.grad(), x2.grad(), 1e-13, 1e-12);
  EXPECT_ALL_CLOSE(b.grad(), b2.grad(), 1e-13, 1e-12);

  // And against the plain loops, in f32.
  Generator gen(5);
  PlainResult plain = plain_attention(split_heads(qkv, H, Hkv).q, split_heads(qkv, H, Hkv).k,
                                      split_heads(qkv, H, Hkv).v, options(bias), gen.state());
  Tensor z32 = packed_attention(qkv.to(DType::f32), H, Hkv, options(bias.to(DType::f32)));
  EXPECT_ALL_CLOSE(z32, plain.out.permute({0, 2, 1, 3}), 1e-5, 1e-5);
}

TEST(Attention, PackedGradcheck) {
  const int64_t H = 2, Hkv = 1, D = 3;
  AttentionOptions o;
  o.causal = true;
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& x) { return packed_attention(x[0], H, Hkv, o); },
                   {randn64({2, 5, (H + 2 * Hkv) * D}, 7).requires_grad_()});
}

TEST(Attention, PackedBadInputsAreErrors) {
  try {
    packed_attention(randn64({2, 5, 13}), 2, 1);
    ADD_FAILURE() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("(n_heads + 2 n_kv_heads) * head_dim"), std::string::npos)
        << e.what();
  }
}

// ---- threads and memory ----------------------------------------------------------------------

void expect_same_bits_for_thread_counts(const Case& c) {
  Inputs in = make_inputs(c).to(DType::f32);
  Tensor dout = randn64({c.B, c.H, c.T, c.Dv}, 99).to(DType::f32);
  FusedResult one, many;
  {
    ThreadCountGuard t(1);
    one = run_fused(in, dout);
  }
  {
    ThreadCountGuard t(3);
    many = run_fused(in, dout);
  }
  EXPECT_EQ(one.out.to_vector<float>(), many.out.to_vector<float>());
  EXPECT_EQ(one.dq.to_vector<float>(), many.dq.to_vector<float>());
  EXPECT_EQ(one.dk.to_vector<float>(), many.dk.to_vector<float>());
  EXPECT_EQ(one.dv.to_vector<float>(), many.dv.to_vector<float>());
  EXPECT_EQ(one.dbias.to_vector<float>(), many.dbias.to_vector<float>());
}

TEST(Attention, ResultsDoNotDependOnThreadCount) {
  // B * Hkv = 4 kv heads >= 3 threads: backward runs one task per kv head.
  expect_same_bits_for_thread_counts({.name = "threads",
                                      .B = 2,
                                      .H = 4,
                                      .Hkv = 2,
                                      .T = 150,
                                      .S = 170,
                                      .D = 16,
                                      .Dv = 12,
                                      .causal = true,
                                      .mask = true,
                                      .bias = BiasKind::learned,
                                      .dropout = 0.1});
}

TEST(Attention, ResultsDoNotDependOnThreadCountWithFewKvHeads) {
  // One kv head for 3 threads: backward splits into key chunks and query blocks, which must
  // give the bits of the single-threaded per-kv-head schedule.
  expect_same_bits_for_thread_counts({.name = "few_kv_heads",
                                      .B = 1,
                                      .H = 3,
                                      .Hkv = 1,
                                      .T = 150,
                                      .S = 170,
                                      .D = 16,
                                      .Dv = 12,
                                      .causal = true,
                                      .window = 100,
                                      .mask = true,
                                      .bias = BiasKind::learned,
                                      .dropout = 0.1});
}

TEST(Attention, MemoryGrowsLinearlyWithSequenceLength) {
  const int64_t B = 1, H = 2, T = 2048, D = 16;
  Tensor q = randn({B, H, T, D}).requires_grad_(), k = randn({B, H, T, D}).requires_grad_(),
         v = randn({B, H, T, D}).requires_grad_();
  Tensor dout = randn({B, H, T, D});
  const size_t before = memory_stats().in_use;
  reset_peak_memory();
  {
    AttentionOptions o;
    o.causal = true;
    Tensor out = scaled_dot_product_attention(q, k, v, o);
    out.backward(dout);
  }
  const size_t peak = memory_stats().peak - before;
  const size_t one_score_matrix = size_t(T * T) * sizeof(float);  // 16 MiB for one head
  // Expected: out, lse, dq, dk, dv and the incoming gradient, about 1.5 MiB in all.
  EXPECT_LT(peak, one_score_matrix / 4) << "peak " << peak << " bytes";
  EXPECT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
}

// ---- errors ----------------------------------------------------------------------------------

void expect_error(const std::function<void()>& f, const std::string& fragment) {
  try {
    f();
    ADD_FAILURE() << "expected an error containing '" << fragment << "'";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
  }
}

TEST(Attention, BadInputsAreErrors) {
  Tensor q = randn64({1, 4, 3, 8}), k = randn64({1, 2, 5, 8}), v = randn64({1, 2, 5, 6});
  expect_error([&] { scaled_dot_product_attention(q.flatten(0, 1), k, v); },
               "expected q [B, H, T, D]");
  expect_error(
      [&] {
        scaled_dot_product_attention(q, randn64({1, 2, 5, 7}), v);
      },
      "shapes do not agree");
  expect_error(
      [&] {
        scaled_dot_product_attention(q, k, randn64({1, 2, 4, 6}));
      },
      "shapes do not agree");
  expect_error(
      [&] {
        scaled_dot_product_attention(q, randn64({1, 3, 5, 8}), randn64({1, 3, 5, 6}));
      },
      "(3) must divide the number of query heads (4)");
  expect_error([&] { scaled_dot_product_attention(q, k.to(DType::f32), v); }, "must share a dtype");
  expect_error(
      [&] {
        scaled_dot_product_attention(arange(8).reshape({1, 1, 1, 8}), k, v);
      },
      "floating");
  AttentionOptions o;
  o.mask = ones({3, 5}, DType::f64);
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); }, "mask must be bool");
  o.mask = ones({3, 4}, DType::boolean);
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); },
               "mask of shape [3, 4] does not broadcast");
  o = {};
  o.bias = randn64({2, 3, 5});
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); },
               "bias of shape [2, 3, 5] does not broadcast");
  o.bias = randn64({3, 5}).to(DType::f32);
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); }, "bias must have q's dtype f64");
  o = {};
  o.dropout = 1.0;
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); },
               "dropout must be in [0, 1), got 1");
  o = {};
  o.window = -1;
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); }, "window must be >= 0");
  o = {};
  o.scale = std::numeric_limits<double>::infinity();
  expect_error([&] { scaled_dot_product_attention(q, k, v, o); }, "scale must be finite");
}

}  // namespace
// Batch invariance (evaluation, generation): a row left-padded with P hidden keys gives, at its
// real positions, the same bits as the row alone, for prefill (T = S) and for one decoding query
// over a cache, with rows longer than a key tile (64), so that the padding would shift the
// tiles' boundaries if they did not start at the first key shown.
TEST(Attention, LeftPaddedRowEqualsTheRowAloneBitForBit) {
  const int64_t H = 2, L = 150, P = 37, D = 16;
  Generator g(4);
  const Tensor q = randn({1, H, L + P, D}, DType::f32, &g), k = randn({1, H, L + P, D}, DType::f32, &g),
               v = randn({1, H, L + P, D}, DType::f32, &g);
  std::vector<float> shown(size_t((L + P) * (L + P)));
  for (int64_t i = 0; i < L + P; ++i)
    for (int64_t j = P; j < L + P; ++j) shown[size_t(i * (L + P) + j)] = 1;
  const Tensor mask = ops::ne(from_vector(shown, {1, 1, L + P, L + P}), full({1}, 0.0));
  for (const int64_t T : {L, int64_t(1)}) {  // prefill, then one query after the cache
    AttentionOptions padded;
    padded.causal = true;
    padded.mask = mask.narrow(2, L + P - T, T);
    AttentionOptions alone;
    alone.causal = true;
    const Tensor a = scaled_dot_product_attention(q.narrow(2, L + P - T, T), k, v, padded);
    const Tensor b = scaled_dot_product_attention(q.narrow(2, L + P - T, T), k.narrow(2, P, L),
                                                  v.narrow(2, P, L), alone);
    EXPECT_EQ(a.contiguous().to_vector<float>(), b.contiguous().to_vector<float>()) << "T " << T;
  }
}

}  // namespace kiln
