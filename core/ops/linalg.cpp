// Matrix products: shape checks, batch broadcasting, 1-d operands and the vjps. The kernels
// (core/ops/cpu/matmul_cpu.cpp -> kernels/cpu/gemm.h) see strided matrices only.
#include "core/ops/linalg.h"

#include "core/autograd/autograd.h"
#include "core/ops/autocast.h"
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

// `an` and `bn` name the operands in messages ("a"/"b", or "x"/"weight" for linear).
void check_operands(const char* op, const Tensor& a, const Tensor& b, bool ta, bool tb,
                    const char* an = "a", const char* bn = "b") {
  KILN_CHECK(a.defined() && b.defined(), op, ": an operand is undefined");
  KILN_CHECK(a.dim() >= 1 && b.dim() >= 1, op, ": operands must have at least 1 dim, got ",
             operand_str(an, a, ta), " @ ", operand_str(bn, b, tb));
  KILN_CHECK(a.device() == b.device(), op,
             ": operands are on different devices: ", operand_str(an, a, ta), " on ",
             a.device().str(), ", ", operand_str(bn, b, tb), " on ", b.device().str());
  KILN_CHECK(a.dtype() == b.dtype(), op,
             ": operands have different dtypes: ", operand_str(an, a, ta), " is ",
             dtype_name(a.dtype()), ", ", operand_str(bn, b, tb), " is ", dtype_name(b.dtype()),
             "; convert one with .to(dtype)");
  KILN_CHECK(is_floating(a.dtype()), op, ": expected floating operands (f64, f32, bf16, f16), got ",
             dtype_name(a.dtype()), " for ", operand_str(an, a, ta), " @ ", operand_str(bn, b, tb));
}

// The matrix dims of an operand of 2 or more dims as used: rows and cols of op(t).
int64_t rows_of(const Tensor& t, bool trans) {
  return trans ? t.size(-1) : t.size(-2);
}
int64_t cols_of(const Tensor& t, bool trans) {
  return trans ? t.size(-2) : t.size(-1);
}

// op(t) as an unrecorded view: the last two dims swapped when trans. Copied to a contiguous
// tensor when its matrix dims have no unit stride (a slice with a step along the last dim),
// since BLAS kernels need one. Kernels only read the geometry, so an operand that needs
// neither is passed as it is (no new TensorImpl: this is on the path of every small product).
Tensor blas_view(const Tensor& t, bool trans) {
  Tensor v = t;
  if (trans) {
    const size_t nd = size_t(t.dim());
    Shape s = t.shape();
    Strides st = t.strides();
    std::swap(s[nd - 1], s[nd - 2]);
    std::swap(st[nd - 1], st[nd - 2]);
    v = as_strided(t, s, st, t.offset());
  }
  const int64_t r = v.size(-2), c = v.size(-1), rs = v.stride(-2), cs = v.stride(-1);
  const bool ok = r <= 1 || c <= 1 ? (r <= 1 || rs != 0) && (c <= 1 || cs != 0)
                                   : (cs == 1 && rs >= c) || (rs == 1 && cs >= r);
  return ok ? v : v.detach().contiguous();
}

// out = op(a) @ op(b) (+ bias along the last dim) for operands of 2 or more dims, batch dims
// broadcast. `op` names the node on the tape.
Tensor matmul_nd(const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor& bias,
                 const char* op) {
  const int64_t M = rows_of(a, ta), K = cols_of(a, ta), Kb = rows_of(b, tb), N = cols_of(b, tb);
  KILN_CHECK(K == Kb, "matmul: inner dimensions differ: ", operand_str("a", a, ta), " @ ",
             operand_str("b", b, tb), " (", K, " vs ", Kb, ")");
  // The batch shape: numpy broadcasting of the dims before the last two.
  const Shape& ash = a.shape();
  const Shape& bsh = b.shape();
  const size_t na = ash.size() - 2, nb = bsh.size() - 2, nd = std::max(na, nb);
  Shape out_shape(nd + 2, 1);
  for (size_t i = 0; i < nd; ++i) {
    const int64_t x = i + na >= nd ? ash[i + na - nd] : 1;
    const int64_t y = i + nb >= nd ? bsh[i + nb - nd] : 1;
    KILN_CHECK(x == y || x == 1 || y == 1,
               "matmul: batch dims do not broadcast: ", operand_str("a", a, ta), " @ ",
               operand_str("b", b, tb), " (batch ", Shape(ash.begin(), ash.end() - 2), " vs ",
               Shape(bsh.begin(), bsh.end() - 2), ")");
    out_shape[i] = x == 1 ? y : x;
  }
  out_shape[nd] = M;
  out_shape[nd + 1] = N;
  Tensor out = empty(out_shape, a.dtype(), a.device());
  if (out.numel() > 0) {
    // A bias the kernel reads as N contiguous values.
    const Tensor bias_c =
        !bias.defined() || bias.stride(0) == 1 ? bias : bias.detach().contiguous();
    if (K == 0) {  // an empty sum
      if (bias.defined())
        out.copy_(bias_c);
      else
        out.fill_(0.0);
    } else {
      // Each operand broadcast to the batch shape (zero strides) unless it already has it.
      auto batched = [&](const Tensor& t, bool trans, int64_t rows, int64_t cols) {
        Tensor v = blas_view(t, trans);
        if (size_t(t.dim()) == nd + 2 &&
            std::equal(out_shape.begin(), out_shape.end() - 2, t.shape().begin()))
          return v;
        Shape s(out_shape.begin(), out_shape.end() - 2);
        s.push_back(rows);
        s.push_back(cols);
        return broadcast_view(v, s, "matmul");
      };
      matmul_kernels.get(a.device(), a.dtype())(out, batched(a, ta, M, K), batched(b, tb, K, N),
                                                bias_c);
    }
  }
  if (!autograd::needs_grad(a, b, bias)) return out;

  // C = op(A) op(B): dop(A) = dC op(B)^T and dop(B) = op(A)^T dC, each written as one matmul
  // with transpose flags so that no transpose is materialised:
  //   dA = ta ? op(B) dC^T : dC op(B)^T        dB = tb ? dC^T op(A) : op(A)^T dC
  // then summed over the batch dims the operand was broadcast along.
  const bool need_a = a.requires_grad(), need_b = b.requires_grad();
  Tensor bd = need_a ? b.detach() : Tensor();  // dA reads B, dB reads A: keep only what is used
  Tensor ad = need_b ? a.detach() : Tensor();
  const Shape a_shape = a.shape(), b_shape = b.shape();
  autograd::record(
      op, {a, b, bias}, out,
      [ad, bd, ta, tb, a_shape, b_shape, K, N](const Tensor& g, const NeedsGrad& n) {
        Tensor ga, gb, gbias;
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
        if (n[2]) gbias = sum_to(g, Shape{N});  // the bias is added to every row
        return std::vector<Tensor>{ga, gb, gbias};
      });
  return out;
}

// matmul with 1-d operands made 2-d, and an optional bias (linear).
Tensor matmul_any(const Tensor& a, const Tensor& b, bool ta, bool tb, const Tensor& bias,
                  const char* op) {
  if (a.dim() >= 2 && b.dim() >= 2) return matmul_nd(a, b, ta, tb, bias, op);
  // A 1-d operand is a row (a) or a column (b), and the dim it adds goes again from the result.
  // Transposing a vector changes nothing, so the flag of a 1-d operand is ignored.
  const int64_t K = a.dim() == 1 ? a.size(0) : cols_of(a, ta);
  const int64_t Kb = b.dim() == 1 ? b.size(0) : rows_of(b, tb);
  KILN_CHECK(K == Kb, "matmul: inner dimensions differ: ", operand_str("a", a, ta), " @ ",
             operand_str("b", b, tb), " (", K, " vs ", Kb, ")");
  Tensor a2 = a.dim() == 1 ? a.unsqueeze(0) : a;
  Tensor b2 = b.dim() == 1 ? b.unsqueeze(1) : b;
  Tensor r = matmul_nd(a2, b2, a.dim() == 1 ? false : ta, b.dim() == 1 ? false : tb, bias, op);
  if (b.dim() == 1) r = r.squeeze(-1);
  if (a.dim() == 1) r = r.squeeze(b.dim() == 1 ? -1 : -2);
  return r;
}

}  // namespace

Tensor matmul(const Tensor& a, const Tensor& b, bool trans_a, bool trans_b) {
  check_operands("matmul", a, b, trans_a, trans_b);
  if (const DType low = autocast_dtype(); low != DType::f32 && a.dtype() == DType::f32) {
    // Recorded casts: backward runs the products in `low` too and returns f32 gradients.
    return matmul_any(a.to(low), b.to(low), trans_a, trans_b, Tensor(), "matmul").to(DType::f32);
  }
  return matmul_any(a, b, trans_a, trans_b, Tensor(), "matmul");
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
    KILN_CHECK(bias.device() == x.device(), "linear: bias is on ", bias.device().str(),
               ", input on ", x.device().str());
  }
  check_operands("linear", x, weight, false, true, "x", "weight");
  // The bias is added inside the GEMM (no second pass over the output); its gradient is the
  // sum of the output gradient over the leading dims.
  if (const DType low = autocast_dtype(); low != DType::f32 && x.dtype() == DType::f32) {
    const Tensor bias_low = bias.defined() ? bias.to(low) : bias;
    return matmul_any(x.to(low), weight.to(low), false, true, bias_low, "linear").to(DType::f32);
  }
  return matmul_any(x, weight, false, true, bias, "linear");
}

}  // namespace kiln::ops
