// Scaled dot-product attention: the fused op (kernels in kernels/cpu/attention.h, registered
// by core/ops/cpu/attention_cpu.cpp) with its fused backward, and the unfused reference.
#include "core/ops/attention.h"

#include <cmath>
#include <limits>
#include <vector>

#include "core/autograd/autograd.h"
#include "core/ops/attention_kernels.h"
#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

namespace {

constexpr const char* kOp = "scaled_dot_product_attention";

// True when `s` broadcasts to `full` without growing it (numpy rules, aligned at the end).
bool broadcasts_to(const Shape& s, const Shape& full) {
  if (s.size() > full.size()) return false;
  const size_t lead = full.size() - s.size();
  for (size_t i = 0; i < s.size(); ++i)
    if (s[i] != 1 && s[i] != full[lead + i]) return false;
  return true;
}

/// Checks the operands and options of attention (fused or reference) and resolves the shapes.
AttentionParams attention_params(const char* op, const Tensor& q, const Tensor& k, const Tensor& v,
                                 const AttentionOptions& o) {
  KILN_CHECK(q.defined() && k.defined() && v.defined(), op, ": q, k and v must all be defined");
  KILN_CHECK(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, op,
             ": expected q [B, H, T, D], k [B, Hkv, S, D], v [B, Hkv, S, Dv], got shapes ",
             q.shape(), ", ", k.shape(), ", ", v.shape());
  KILN_CHECK(is_floating(q.dtype()), op, ": expected floating q, k, v, got ",
             dtype_name(q.dtype()));
  KILN_CHECK(k.dtype() == q.dtype() && v.dtype() == q.dtype(), op,
             ": q, k, v must share a dtype, got ", dtype_name(q.dtype()), ", ",
             dtype_name(k.dtype()), ", ", dtype_name(v.dtype()));
  KILN_CHECK(k.device() == q.device() && v.device() == q.device(), op,
             ": q, k, v are on different devices (", q.device().str(), ", ", k.device().str(), ", ",
             v.device().str(), ")");
  AttentionParams p;
  p.B = q.size(0), p.H = q.size(1), p.T = q.size(2), p.D = q.size(3);
  p.Hkv = k.size(1), p.S = k.size(2), p.Dv = v.size(3);
  KILN_CHECK(k.size(0) == p.B && v.size(0) == p.B && v.size(1) == p.Hkv && v.size(2) == p.S &&
                 k.size(3) == p.D,
             op, ": shapes do not agree: q ", q.shape(), " [B, H, T, D], k ", k.shape(),
             " [B, Hkv, S, D], v ", v.shape(), " [B, Hkv, S, Dv]");
  KILN_CHECK(p.Hkv > 0 && p.H % p.Hkv == 0, op, ": the number of key/value heads (", p.Hkv,
             ") must divide the number of query heads (", p.H, ")");
  const Shape full{p.B, p.H, p.T, p.S};
  if (o.mask.defined()) {
    KILN_CHECK(o.mask.dtype() == DType::boolean, op,
               ": mask must be bool (true = may attend), got ", dtype_name(o.mask.dtype()));
    KILN_CHECK(o.mask.device() == q.device(), op, ": mask is on ", o.mask.device().str(), ", q on ",
               q.device().str());
    KILN_CHECK(broadcasts_to(o.mask.shape(), full), op, ": mask of shape ", o.mask.shape(),
               " does not broadcast to [B, H, T, S] = ", full);
  }
  if (o.bias.defined()) {
    KILN_CHECK(o.bias.dtype() == q.dtype(), op, ": bias must have q's dtype ",
               dtype_name(q.dtype()), ", got ", dtype_name(o.bias.dtype()));
    KILN_CHECK(o.bias.device() == q.device(), op, ": bias is on ", o.bias.device().str(), ", q on ",
               q.device().str());
    KILN_CHECK(broadcasts_to(o.bias.shape(), full), op, ": bias of shape ", o.bias.shape(),
               " does not broadcast to [B, H, T, S] = ", full);
  }
  KILN_CHECK(o.window >= 0, op, ": window must be >= 0 (0 = no window), got ", o.window);
  KILN_CHECK(o.dropout >= 0.0 && o.dropout < 1.0, op, ": dropout must be in [0, 1), got ",
             o.dropout);
  p.scale = o.scale.value_or(1.0 / std::sqrt(double(p.D)));
  KILN_CHECK(std::isfinite(p.scale), op, ": scale must be finite, got ", p.scale);
  p.causal = o.causal;
  p.window = o.window;
  p.dropout = o.dropout;
  if (p.dropout > 0) {
    Generator& g = o.generator ? *o.generator : default_generator();
    p.rng = g.reserve((uint64_t(p.B * p.H * p.T * p.S) + 3) / 4);
  }
  return p;
}

}  // namespace

namespace {

// out [B, H, T, Dv] and lse [B, H, T] of the fused forward; out is a view of a [B, T, H, Dv]
// tensor (the order in which heads are merged next).
std::pair<Tensor, Tensor> fused_forward(const Tensor& q, const Tensor& k, const Tensor& v,
                                        const Tensor& bias, const Tensor& mask,
                                        const AttentionParams& p) {
  const DType lse_dtype = q.dtype() == DType::f64 ? DType::f64 : DType::f32;
  Tensor out = empty({p.B, p.T, p.H, p.Dv}, q.dtype(), q.device()).permute({0, 2, 1, 3});
  Tensor lse = empty({p.B, p.H, p.T}, lse_dtype, q.device());
  attention_forward_kernels.get(q.device(), q.dtype())(out, lse, q, k, v, bias, mask, p);
  return {out, lse};
}

// dS over the full [B, H, T, S] when the bias needs a gradient (else undefined), and the bias's
// gradient from it.
Tensor full_dbias(bool needed, const AttentionParams& p, const Tensor& lse) {
  return needed ? zeros({p.B, p.H, p.T, p.S}, lse.dtype(), lse.device()) : Tensor();
}
Tensor reduce_dbias(const Tensor& dbias, const Tensor& bias) {
  return dbias.defined() ? sum_to(dbias, bias.shape()).to(bias.dtype()) : Tensor();
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    const AttentionOptions& o) {
  const AttentionParams p = attention_params(kOp, q, k, v, o);
  // Saved as they are: the kernels read strided operands, so views are not copied.
  Tensor qd = q.detach(), kd = k.detach(), vd = v.detach();
  Tensor bias = o.bias.defined() ? o.bias.detach() : Tensor();
  Tensor mask = o.mask;
  auto [out, lse] = fused_forward(qd, kd, vd, bias, mask, p);

  if (autograd::needs_grad({&q, &k, &v, &o.bias})) {
    Tensor saved_out = out.detach();
    autograd::record(
        kOp, {q, k, v, o.bias}, out, [=](const Tensor& grad, const autograd::NeedsGrad& needs) {
          Tensor dq = empty(qd.shape(), qd.dtype(), qd.device());
          Tensor dk = empty(kd.shape(), kd.dtype(), kd.device());
          Tensor dv = empty(vd.shape(), vd.dtype(), vd.device());
          Tensor dbias = full_dbias(needs[3], p, lse);
          attention_backward_kernels.get(grad.device(), grad.dtype())(
              dq, dk, dv, dbias, grad, qd, kd, vd, saved_out, lse, bias, mask, p);
          return std::vector<Tensor>{needs[0] ? dq : Tensor(), needs[1] ? dk : Tensor(),
                                     needs[2] ? dv : Tensor(), reduce_dbias(dbias, bias)};
        });
  }
  return out;
}

Tensor packed_attention(const Tensor& qkv, int64_t H, int64_t Hkv, const AttentionOptions& o) {
  constexpr const char* op = "packed_attention";
  KILN_CHECK(qkv.defined() && qkv.dim() == 3, op, ": expected qkv [B, T, (H + 2 Hkv) D], got ",
             qkv.defined() ? str_cat(qkv.shape()) : std::string("an undefined tensor"));
  KILN_CHECK(H >= 1 && Hkv >= 1, op, ": n_heads and n_kv_heads must be >= 1, got ", H, " and ",
             Hkv);
  const int64_t B = qkv.size(0), T = qkv.size(1), W = qkv.size(2);
  KILN_CHECK(W % (H + 2 * Hkv) == 0, op, ": the last dim of qkv ", qkv.shape(),
             " is not (n_heads + 2 n_kv_heads) * head_dim with n_heads = ", H,
             ", n_kv_heads = ", Hkv);
  const int64_t D = W / (H + 2 * Hkv);
  // [B, H, T, D] views of the three parts: no copy. (Captures by value: backward uses it too.)
  auto heads = [B, T, D](const Tensor& t, int64_t col, int64_t n) {
    return t.narrow(2, col, n * D).view({B, T, n, D}).permute({0, 2, 1, 3});
  };
  Tensor d = qkv.detach();
  if (d.stride(2) != 1) d = d.contiguous();  // the heads' last dim must be contiguous
  Tensor q = heads(d, 0, H), k = heads(d, H * D, Hkv), v = heads(d, (H + Hkv) * D, Hkv);
  const AttentionParams p = attention_params(op, q, k, v, o);
  Tensor bias = o.bias.defined() ? o.bias.detach() : Tensor();
  Tensor mask = o.mask;
  auto [out, lse] = fused_forward(q, k, v, bias, mask, p);
  Tensor z = out.permute({0, 2, 1, 3});  // [B, T, H, D], contiguous
  if (!autograd::needs_grad(qkv, o.bias)) return z;

  Tensor saved_out = out.detach();
  const Shape qkv_shape = qkv.shape();
  autograd::record(op, {qkv, o.bias}, z, [=](const Tensor& g, const autograd::NeedsGrad& needs) {
    Tensor dqkv = empty(qkv_shape, g.dtype(), g.device());
    Tensor dbias = full_dbias(needs[1], p, lse);
    attention_backward_kernels.get(g.device(), g.dtype())(
        heads(dqkv, 0, H), heads(dqkv, H * D, Hkv), heads(dqkv, (H + Hkv) * D, Hkv), dbias,
        g.permute({0, 2, 1, 3}), q, k, v, saved_out, lse, bias, mask, p);
    return std::vector<Tensor>{needs[0] ? dqkv : Tensor(), reduce_dbias(dbias, bias)};
  });
  return z;
}

// The same function as the unfused composition of ops, materialising [B, H, T, S] scores.
Tensor attention_reference(const Tensor& q, const Tensor& k, const Tensor& v,
                           const AttentionOptions& o) {
  // Draws the dropout state exactly as the fused op does, so both see the same mask.
  const AttentionParams p = attention_params("attention_reference", q, k, v, o);
  const int64_t B = p.B, H = p.H, Hkv = p.Hkv, T = p.T, S = p.S, G = H / Hkv;
  Tensor kh = k, vh = v;
  if (G > 1) {  // grouped-query heads: repeat each kv head for the G query heads that read it
    kh = k.unsqueeze(2).expand({B, Hkv, G, S, p.D}).reshape({B, H, S, p.D});
    vh = v.unsqueeze(2).expand({B, Hkv, G, S, p.Dv}).reshape({B, H, S, p.Dv});
  }
  Tensor scores = mul(matmul(q, kh, /*trans_a=*/false, /*trans_b=*/true), p.scale);
  if (o.bias.defined()) scores = add(scores, o.bias);

  Tensor visible = o.mask;  // bool, true = may attend; undefined = all
  if (p.causal || p.window > 0) {
    std::vector<bool> pos(static_cast<size_t>(T * S));
    for (int64_t i = 0; i < T; ++i)
      for (int64_t j = 0; j < S; ++j)
        pos[size_t(i * S + j)] = j <= i + S - T && (p.window == 0 || j > i + S - T - p.window);
    Tensor by_position = from_vector(pos, {T, S});
    visible = visible.defined() ? logical_and(visible, by_position) : by_position;
  }
  Tensor empty_row;  // rows that see no key: softmax of all -inf would be NaN; they give 0
  if (visible.defined()) {
    scores = masked_fill(scores, logical_not(visible), -std::numeric_limits<double>::infinity());
    empty_row = eq(sum(visible.to(q.dtype()), {-1}, /*keepdim=*/true), 0.0);
    scores = masked_fill(scores, empty_row, 0.0);
  }
  Tensor probs = softmax(scores, -1);
  if (empty_row.defined()) probs = masked_fill(probs, empty_row, 0.0);
  if (p.dropout > 0) {
    Tensor keep = dropout_mask({B, H, T, S}, p.dropout, p.rng).to(q.dtype());
    probs = mul(mul(probs, keep), 1.0 / (1.0 - p.dropout));
  }
  return matmul(probs, vh);
}

}  // namespace kiln::ops
