// Rotary position embedding: the fused op (kernel in kernels/cpu/rotary.h) and its reference
// from elementwise ops.
#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/attention.h"
#include "core/ops/attention_kernels.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

namespace {

// Checks x and the options; returns the number of rotated dims R (even, <= D).
int64_t rotated_dims(const char* op, const Tensor& x, const RotaryOptions& o) {
  KILN_CHECK(x.defined(), op, ": x is undefined");
  KILN_CHECK(x.dim() >= 2, op, ": expected x [B, H, T, D] (positions along dim -2), got shape ",
             x.shape());
  KILN_CHECK(is_floating(x.dtype()), op, ": expected a floating tensor, got ",
             dtype_name(x.dtype()));
  KILN_CHECK(std::isfinite(o.theta) && o.theta > 0, op, ": theta must be a positive number, got ",
             o.theta);
  KILN_CHECK(o.fraction >= 0.0 && o.fraction <= 1.0, op, ": fraction must be in [0, 1], got ",
             o.fraction);
  KILN_CHECK(o.position_offset >= 0, op, ": position_offset must be >= 0, got ", o.position_offset);
  const int64_t r = int64_t(std::floor(o.fraction * double(x.size(-1))));
  return r - r % 2;
}

Tensor rotate(const Tensor& x, int64_t r, const RotaryOptions& o, bool inverse) {
  Tensor xc = x.contiguous();
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  rotary_kernels.get(x.device(), x.dtype())(out, xc, r, o.theta, o.position_offset, inverse);
  return out;
}

}  // namespace

Tensor rotary_embedding(const Tensor& x, const RotaryOptions& o) {
  const int64_t r = rotated_dims("rotary_embedding", x, o);
  Tensor out = rotate(x.detach(), r, o, /*inverse=*/false);
  if (autograd::needs_grad(x)) {
    // The rotation is orthogonal: its transpose, the vjp, is the rotation by the opposite angle.
    autograd::record("rotary_embedding", {x}, out,
                     [r, o](const Tensor& g, const autograd::NeedsGrad&) {
                       return std::vector<Tensor>{rotate(g, r, o, /*inverse=*/true)};
                     });
  }
  return out;
}

// The formula of Hugging Face's LLaMA, out = x cos + rotate_half(x) sin, with the tables as
// tensors and rotate_half (y_i = -x_{i+R/2}, y_{i+R/2} = x_i, 0 on pass-through dims) as a
// product with a signed permutation matrix. Pass-through dims have angle 0 (cos 1, sin 0).
Tensor rotary_embedding_reference(const Tensor& x, const RotaryOptions& o) {
  const int64_t r = rotated_dims("rotary_embedding_reference", x, o);
  const int64_t T = x.size(-2), D = x.size(-1), half = r / 2;
  std::vector<double> freq(size_t(D), 0.0), perm(size_t(D * D), 0.0);
  for (int64_t i = 0; i < half; ++i) {
    freq[size_t(i)] = freq[size_t(i + half)] = std::pow(o.theta, -2.0 * double(i) / double(r));
    perm[size_t((i + half) * D + i)] = -1.0;
    perm[size_t(i * D + i + half)] = 1.0;
  }
  Tensor pos = arange(double(o.position_offset), double(o.position_offset + T), 1.0, DType::f64)
                   .reshape({T, 1});
  Tensor angle = mul(pos, from_vector(freq, {1, D}));  // [T, D], in f64 whatever x's dtype
  Tensor c = cos(angle).to(x.dtype()), s = sin(angle).to(x.dtype());
  Tensor rotated_half = matmul(x, from_vector(perm, {D, D}).to(x.dtype()));
  return add(mul(x, c), mul(rotated_half, s));
}

}  // namespace kiln::ops
