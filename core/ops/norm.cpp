// Layer norm and RMS norm: fused kernels that save each row's statistics (mean, 1/std) for a
// fused backward, and the compositions of elementwise ops and reductions they are tested
// against. The math is derived in kernels/cpu/norm.h.
#include "core/ops/norm.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/norm_kernels.h"
#include "core/ops/reduce.h"

namespace kiln::ops {

using autograd::NeedsGrad;

namespace {

// Statistics are kept in the compute precision: f64 for f64, f32 for everything else.
DType stat_dtype(DType t) {
  return t == DType::f64 ? DType::f64 : DType::f32;
}

void check_input(const char* op, const Tensor& x, double eps) {
  KILN_CHECK(is_floating(x.dtype()), op, ": expected a floating input, got ", dtype_name(x.dtype()),
             " with shape ", x.shape());
  KILN_CHECK(x.dim() >= 1 && x.size(-1) >= 1, op,
             ": the input's last dim is normalised and must be non-empty, ", "got shape ",
             x.shape());
  KILN_CHECK(std::isfinite(eps) && eps >= 0, op, ": eps must be finite and >= 0, got ", eps);
}

void check_param(const char* op, const char* name, const Tensor& p, const Tensor& x) {
  if (!p.defined()) return;
  KILN_CHECK(p.dim() == 1 && p.size(0) == x.size(-1), op, ": ", name, " must have shape [",
             x.size(-1), "] (the last dim of the input of shape ", x.shape(), "), got ", p.shape());
  KILN_CHECK(p.dtype() == x.dtype() && p.device() == x.device(), op, ": ", name, " is ",
             dtype_name(p.dtype()), " on ", p.device().str(), " but the input is ",
             dtype_name(x.dtype()), " on ", x.device().str());
}

Tensor detached_contiguous(const Tensor& t) {
  return t.defined() ? t.detach().contiguous() : Tensor();
}

Shape row_shape(const Shape& s) {
  return Shape(s.begin(), s.end() - 1);
}

// Records the fused backward shared by both norms (mean undefined for RMS norm).
void record_norm(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias,
                 const Tensor& out, const Tensor& xc, const Tensor& wc, const Tensor& mean,
                 const Tensor& rstd) {
  // Optional operands stay in their slots as undefined tensors (record allows them).
  autograd::record(
      op, {x, weight, bias}, out, [op, xc, wc, mean, rstd](const Tensor& g, const NeedsGrad& n) {
        Tensor gc = g.contiguous();
        Tensor dx = n[0] ? empty(xc.shape(), xc.dtype(), xc.device()) : Tensor();
        Tensor dw = n[1] ? empty(wc.shape(), wc.dtype(), wc.device()) : Tensor();
        Tensor db = n[2] ? empty(Shape{xc.size(-1)}, xc.dtype(), xc.device()) : Tensor();
        norm_backward_kernels.get(g.device(), g.dtype(), op)(dx, dw, db, gc, xc, wc, mean, rstd);
        return std::vector<Tensor>{dx, dw, db};
      });
}

}  // namespace

Tensor layer_norm(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm";
  check_input(op, x, eps);
  check_param(op, "weight", weight, x);
  check_param(op, "bias", bias, x);
  Tensor xc = x.detach().contiguous(), wc = detached_contiguous(weight),
         bc = detached_contiguous(bias);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  Tensor mean = empty(row_shape(x.shape()), stat_dtype(x.dtype()), x.device());
  Tensor rstd = empty(row_shape(x.shape()), stat_dtype(x.dtype()), x.device());
  layer_norm_kernels.get(x.device(), x.dtype(), op)(out, mean, rstd, xc, wc, bc, eps);
  if (autograd::needs_grad({&x, &weight, &bias}))
    record_norm(op, x, weight, bias, out, xc, wc, mean, rstd);
  return out;
}

Tensor rms_norm(const Tensor& x, const Tensor& weight, double eps) {
  const char* op = "rms_norm";
  check_input(op, x, eps);
  check_param(op, "weight", weight, x);
  Tensor xc = x.detach().contiguous(), wc = detached_contiguous(weight);
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  Tensor rstd = empty(row_shape(x.shape()), stat_dtype(x.dtype()), x.device());
  rms_norm_kernels.get(x.device(), x.dtype(), op)(out, rstd, xc, wc, eps);
  if (autograd::needs_grad(x, weight))
    record_norm(op, x, weight, Tensor(), out, xc, wc, Tensor(), rstd);
  return out;
}

Tensor layer_norm_reference(const Tensor& x, const Tensor& weight, const Tensor& bias, double eps) {
  const char* op = "layer_norm_reference";
  check_input(op, x, eps);
  check_param(op, "weight", weight, x);
  check_param(op, "bias", bias, x);
  Tensor xc = sub(x, mean(x, {-1}, /*keepdim=*/true));
  Tensor var = mean(square(xc), {-1}, /*keepdim=*/true);
  Tensor y = mul(xc, rsqrt(add(var, eps)));
  if (weight.defined()) y = mul(y, weight);
  if (bias.defined()) y = add(y, bias);
  return y;
}

Tensor rms_norm_reference(const Tensor& x, const Tensor& weight, double eps) {
  const char* op = "rms_norm_reference";
  check_input(op, x, eps);
  check_param(op, "weight", weight, x);
  Tensor y = mul(x, rsqrt(add(mean(square(x), {-1}, /*keepdim=*/true), eps)));
  if (weight.defined()) y = mul(y, weight);
  return y;
}

}  // namespace kiln::ops
