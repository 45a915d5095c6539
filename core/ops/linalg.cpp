// Matrix products: shape checks, batch broadcasting, 1-d operands and the vjps. The kernels
// (core/ops/cpu/matmul_cpu.cpp -> kernels/cpu/gemm.h) see strided matrices only.
#include "core/ops/linalg.h"

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg_kernels.h"
#include "core/ops/view.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

using autograd::NeedsGrad;

namespace {

// "a [2, 3]" or, for an operand used transposed, "b [5, 4]^T".
std::string operand_str(const char* name, const Tensor& t, bool trans) {
  return str_cat(name, " ", t.shape(), trans && t.dim() >= 2 ? "^T" : "");
}

void check_operands(const char* op, const Tensor& a, const Tensor& b, bool ta, bool tb) {
  KILN_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
  KILN_CHECK(a.dim() >= 1 && b.dim() >= 1, op, ": operands must have at least 1 dim, got ",
             operand_str("a", a, ta), " @ ", operand_str("b", b, tb));
  KILN_CHECK(a.device() == b.device(), op,
             ": operands are on different devices: ", operand_str("a", a, ta), " on ",
             a.device().str(), ", ", operand_str("b", b, tb), " on ", b.device().str());
  KILN_CHECK(a.dtype() == b.dtype(), op,
             ": operands have different dtypes: ", operand_str("a", a, ta), " is ",
             dtype_name(a.dtype()), ", ", operand_str("b", b, tb), " is ", dtype_name(b.dtype()),
             "; convert one with .to(dtype)");
  KILN_CHECK(is_floating(a.dtype()), op, ": expected floating operands (f64, f32, bf16, f16), got ",
             dtype_name(a.dtype()), " for ", operand_str("a", a, ta), " @ ",
             operand_str("b", b, tb));
}

// The matrix dims of an operand as used: rows and cols of op(t) (a 1-d a is a row, a 1-d b a
// column).
int64_t rows_of(const Tensor& t, bool trans) {
  return trans ? t.size(-1) : t.size(-2);
}
int64_t cols_of(const Tensor& t, bool trans) {
  return trans ? t.size(-2) : t.size(-1);
}

// op(t) as an unrecorded view: the last two dims swapped when trans. Copied to a contiguous
// tensor when its matrix dims have no unit stride (a slice with a step along the last dim),
// since BLAS kernels need one.
Tensor blas_view(const Tensor& t, bool trans) {
  Tensor v = t.detach();
  const int64_t nd = v.dim();
  if (trans) {
    Shape s = v.shape();
    Strides st = v.strides();
    std::swap(s[size_t(nd - 1)], s[size_t(nd - 2)]);
    std::swap(st[size_t(nd - 1)], st[size_t(nd - 2)]);
    v = as_strided(v, s, st, v.offset());
  }
  const int64_t r = v.size(-2), c = v.size(-1), rs = v.stride(-2), cs = v.stride(-1);
  const bool ok = r <= 1 || c <= 1 ? (r <= 1 || rs != 0) && (c <= 1 || cs != 0)
                                   : (cs == 1 && rs >= c) || (rs == 1 && cs >= r);
  return ok ? v : v.contiguous();
}

// out = op(a) @ op(b) for operands of 2 or more dims, batch dims broadcast.
Tensor matmul_nd(const Tensor& a, const Tensor& b, bool ta, bool tb) {
  const int64_t M = rows_of(a, ta), K = cols_of(a, ta), Kb = rows_of(b, tb), N = cols_of(b, tb);
  KILN_CHECK(K == Kb, "matmul: inner dimensions differ: ", operand_str("a", a, ta), " @ ",
             operand_str("b", b, tb), " (", K, " vs ", Kb, ")");
  const Shape abatch(a.shape().begin(), a.shape().end() - 2),
      bbatch(b.shape().begin(), b.shape().end() - 2);
  Shape batch;
  {
    const size_t nd = std::max(abatch.size(), bbatch.size());
    batch.assign(nd, 1);
    for (size_t i = 0; i < nd; ++i) {
      const int64_t x = i + abatch.size() >= nd ? abatch[i + abatch.size() - nd] : 1;
      const int64_t y = i + bbatch.size() >= nd ? bbatch[i + bbatch.size() - nd] : 1;
      KILN_CHECK(x == y || x == 1 || y == 1,
                 "matmul: batch dims do not broadcast: ", operand_str("a", a, ta), " @ ",
                 operand_str("b", b, tb), " (batch ", abatch, " vs ", bbatch, ")");
      batch[i] = x == 1 ? y : x;
    }
  }
  Shape out_shape = batch;
  out_shape.push_back(M);
  out_shape.push_back(N);
  Tensor out = empty(out_shape, a.dtype(), a.device());
  if (out.numel() > 0) {
    if (K == 0) {
      out.fill_(0.0);
    } else {
      Shape as = batch, bs = batch;
      as.insert(as.end(), {M, K});
      bs.insert(bs.end(), {K, N});
      Tensor av = broadcast_view(blas_view(a, ta), as, "matmul");
      Tensor bv = broadcast_view(blas_view(b, tb), bs, "matmul");
      matmul_kernels.get(a.device(), a.dtype())(out, av, bv);
    }
  }
  if (!autograd::needs_grad(a, b)) return out;

  // C = op(A) op(B): dop(A) = dC op(B)^T and dop(B) = op(A)^T dC, each written as one matmul
  // with transpose flags so that no transpose is materialised:
  //   dA = ta ? op(B) dC^T : dC op(B)^T        dB = tb ? dC^T op(A) : op(A)^T dC
  // then summed over the batch dims the operand was broadcast along.
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor bd = need_a ? b.detach() : Tensor();  // dA reads B, dB reads A: keep only what is used
  Tensor ad = need_b ? a.detach() : Tensor();
  const Shape a_shape = a.shape(), b_shape = b.shape();
  autograd::record(
      "matmul", {a, b}, out,
      [ad, bd, ta, tb, a_shape, b_shape, K, N](const Tensor& g, const NeedsGrad& n) {
        Tensor ga, gb;
        if (n[0]) ga = sum_to(ta ? matmul(bd, g, tb, true) : matmul(g, bd, false, !tb), a_shape);
        if (n[1]) {
          if (b_shape.size() == 2 && a_shape.size() > 2) {
            // A shared B (a linear layer): fold the batch into the rows and get dB
            // from one GEMM with K = batch * M instead of a batch of them summed.
            Tensor a2 = (ta ? ad.mT() : ad).reshape({-1, K});
            Tensor g2 = g.reshape({-1, N});
            gb = tb ? matmul(g2, a2, true, false) : matmul(a2, g2, true, false);
          } else {
            gb = sum_to(tb ? matmul(g, ad, true, ta) : matmul(ad, g, !ta, false), b_shape);
          }
        }
        return std::vector<Tensor>{ga, gb};
      });
  return out;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_operands("matmul", a, b, trans_a, trans_b);
  if (a.dim() >= 2 && b.dim() >= 2) return matmul_nd(a, b, trans_a, trans_b);

  // A 1-d operand is a row (a) or a column (b), and the dim it adds goes again from the result.
  // Transposing a vector changes nothing, so the flag of a 1-d operand is ignored.
  const int64_t K = a.dim() == 1 ? a.size(0) : cols_of(a, trans_a);
  const int64_t Kb = b.dim() == 1 ? b.size(0) : rows_of(b, trans_b);
  KILN_CHECK(K == Kb, "matmul: inner dimensions differ: ", operand_str("a", a, trans_a), " @ ",
             operand_str("b", b, trans_b), " (", K, " vs ", Kb, ")");
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor r = matmul_nd(a2, b2, a.dim() == 1 ? false : trans_a, b.dim() == 1 ? false : trans_b);
  if (b.dim() == 1) r = r.squeeze(-1);
  if (a.dim() == 1) r = r.squeeze(b.dim() == 1 ? -1 : -2);
  return r;
}

Tensor bmm(const Tensor& a, const Tensor& b) {
  check_operands("bmm", a, b, false, false);
  KILN_CHECK(a.dim() == 3 && b.dim() == 3,
             "bmm: expected 3-d operands [B, M, K] @ [B, K, N], got a ", a.shape(), " @ b ",
             b.shape());
  KILN_CHECK(a.size(0) == b.size(0), "bmm: batch sizes differ: a ", a.shape(), " @ b ", b.shape(),
             " (", a.size(0), " vs ", b.size(0), ")");
  KILN_CHECK(a.size(2) == b.size(1), "bmm: inner dimensions differ: a ", a.shape(), " @ b ",
             b.shape(), " (", a.size(2), " vs ", b.size(1), ")");
  return matmul(a, b);
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  KILN_CHECK(x.defined() && weight.defined(), "linear: input or weight is undefined");
  KILN_CHECK(weight.dim() == 2, "linear: weight must be 2-d [out, in], got ", weight.shape());
  KILN_CHECK(x.dim() >= 1 && x.size(-1) == weight.size(1), "linear: input features differ: x ",
             x.shape(), " vs weight ", weight.shape(), " (", x.dim() >= 1 ? x.size(-1) : 0, " vs ",
             weight.size(1), ")");
  if (bias.defined()) {
    KILN_CHECK(bias.dim() == 1 && bias.size(0) == weight.size(0),
               "linear: bias must be 1-d of size ", weight.size(0), " (weight ", weight.shape(),
               "), got ", bias.shape());
    KILN_CHECK(bias.dtype() == x.dtype(), "linear: bias has dtype ", dtype_name(bias.dtype()),
               ", input has ", dtype_name(x.dtype()));
  }
  check_operands("linear", x, weight, false, true);
  Tensor y = matmul(x, weight, false, true);
  // The bias gradient, a sum over the leading dims, comes from add's broadcast backward.
  return bias.defined() ? add(y, bias) : y;
}

}  // namespace kiln::ops
