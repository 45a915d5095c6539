#include "core/ops/dropout.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/attention_kernels.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

namespace {

// y = x * keep / (1 - p), keep drawn from s: the whole forward, and (applied to the output's
// gradient with the same s) the whole backward, since dy/dx is the same diagonal.
Tensor apply_mask(const Tensor& x, double p, const RngState& s) {
  Tensor xc = x.contiguous();
  Tensor out = empty(x.shape(), x.dtype(), x.device());
  dropout_kernels.get(x.device(), x.dtype())(out, xc, p, s);
  return out;
}

}  // namespace

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  KILN_CHECK(p >= 0.0 && p < 1.0, "dropout: p must be in [0, 1), got ", p);
  KILN_CHECK(is_floating(x.dtype()), "dropout: expected a floating tensor, got ",
             dtype_name(x.dtype()), " with shape ", x.shape());
  if (!training || p == 0.0) return x;
  Generator& g = gen ? *gen : default_generator();
  const RngState s = g.reserve(uint64_t(x.numel() + 3) / 4);
  Tensor out = apply_mask(x.detach(), p, s);
  if (autograd::needs_grad(x)) {
    // The mask is not stored: backward redraws it from s.
    autograd::record("dropout", {x}, out, [p, s](const Tensor& grad, const autograd::NeedsGrad&) {
      return std::vector<Tensor>{apply_mask(grad, p, s)};
    });
  }
  return out;
}

Tensor dropout_mask(const Shape& shape, double p, const RngState& s) {
  KILN_CHECK(p >= 0.0 && p < 1.0, "dropout_mask: p must be in [0, 1), got ", p);
  Tensor out = empty(shape, DType::boolean);
  dropout_mask_kernels.get(Device::cpu(), DType::boolean)(out, p, s);
  return out;
}

}  // namespace kiln::ops
