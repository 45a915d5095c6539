// Cross-entropy: the fused op (one pass over the logits forward, one backward, saving only the
// per-row log-sum-exp) and its composition from ops, the reference the fused kernel is tested
// against. The math is derived in kernels/cpu/cross_entropy.h.
#include "core/ops/loss.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/index.h"
#include "core/ops/index_kernels.h"
#include "core/ops/loss_kernels.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::ops {

using autograd::NeedsGrad;

namespace {

// The loss (and the per-row statistics) are f64 for f64 logits and f32 for all others: a
// bf16/f16 loss would round away the differences a training curve is read for.
DType loss_dtype(DType logits) {
  return logits == DType::f64 ? DType::f64 : DType::f32;
}

void check_inputs(const char* op, const Tensor& logits, const Tensor& target,
                  const CrossEntropyOptions& opts) {
  KILN_CHECK(is_floating(logits.dtype()), op, ": logits must be floating, got ",
             dtype_name(logits.dtype()), " with shape ", logits.shape());
  KILN_CHECK(logits.dim() >= 1 && logits.size(-1) >= 1, op,
             ": logits must be [..., C] with C >= 1, got shape ", logits.shape());
  check_index_dtype(op, target, "targets");
  KILN_CHECK(logits.device() == target.device(), op, ": logits are on ", logits.device().str(),
             " but targets are on ", target.device().str());
  Shape rows(logits.shape().begin(), logits.shape().end() - 1);
  KILN_CHECK(target.shape() == rows, op, ": targets of shape ", target.shape(),
             " do not match logits of shape ", logits.shape(), " (expected targets of shape ", rows,
             ")");
  KILN_CHECK(opts.label_smoothing >= 0 && opts.label_smoothing <= 1, op,
             ": label_smoothing must be in [0, 1], got ", opts.label_smoothing);
  const int64_t C = logits.size(-1);
  if (auto bad = first_bad_index(op, target, C, opts.ignore_index))
    KILN_FAIL(op, ": target ", *bad, " is out of range for ", C,
              " classes (expected 0 <= target < ", C, ", or ignore_index = ", opts.ignore_index,
              ")");
}

}  // namespace

Tensor cross_entropy(const Tensor& logits, const Tensor& target, const CrossEntropyOptions& opts) {
  const char* op = "cross_entropy";
  check_inputs(op, logits, target, opts);
  const DType ld = loss_dtype(logits.dtype());
  const Device dev = logits.device();
  Tensor x = logits.detach().contiguous(), t = target.detach().contiguous();
  Tensor rows = empty(target.shape(), ld, dev), lse = empty(target.shape(), ld, dev);
  const int64_t count = cross_entropy_kernels.get(dev, logits.dtype(), op)(
      rows, lse, x, t, opts.ignore_index, opts.label_smoothing);
  // The row losses are summed by ops::sum, in fixed chunks: the same bits for any thread count.
  // A mean over zero targets is 0/0 = NaN, as in PyTorch.
  Tensor out;
  double scale = 1.0;
  switch (opts.reduction) {
    case Reduction::none:
      out = rows;
      break;
    case Reduction::sum:
      out = sum(rows);
      break;
    case Reduction::mean:
      out = div(sum(rows), double(count));
      scale = 1.0 / double(count);
      break;
  }
  if (autograd::needs_grad(logits)) {
    const int64_t ignore = opts.ignore_index;
    const double smoothing = opts.label_smoothing;
    autograd::record(op, {logits}, out,
                     [x, t, lse, ld, scale, ignore, smoothing](const Tensor& g, const NeedsGrad&) {
                       Tensor dx = empty(x.shape(), x.dtype(), x.device());
                       cross_entropy_backward_kernels.get(x.device(), x.dtype(),
                                                          "cross_entropy_backward")(
                           dx, g.to(ld).contiguous(), scale, x, lse, t, ignore, smoothing);
                       return std::vector<Tensor>{dx};
                     });
  }
  return out;
}

Tensor cross_entropy_reference(const Tensor& logits, const Tensor& target,
                               const CrossEntropyOptions& opts) {
  const char* op = "cross_entropy_reference";
  check_inputs(op, logits, target, opts);
  Tensor x = logits.to(loss_dtype(logits.dtype()));
  Tensor lp = log_softmax(x, -1);
  Tensor zero = scalar(0.0, x.dtype(), x.device());
  Tensor ignored = eq(target, double(opts.ignore_index));
  // Ignored rows pick class 0 (any valid class) and are masked out afterwards.
  Tensor picked = where(ignored, scalar(0.0, target.dtype(), target.device()), target);
  Tensor loss = neg(gather(lp, -1, picked.unsqueeze(-1)).squeeze(-1));
  if (opts.label_smoothing > 0) {
    const double s = opts.label_smoothing;
    loss = add(mul(loss, 1.0 - s), mul(neg(mean(lp, {-1})), s));
  }
  loss = where(ignored, zero, loss);
  switch (opts.reduction) {
    case Reduction::none:
      return loss;
    case Reduction::sum:
      return sum(loss);
    case Reduction::mean:
      return div(sum(loss), sum(logical_not(ignored).to(x.dtype())));
  }
  KILN_FAIL(op, ": unknown reduction ", int(opts.reduction));
}

}  // namespace kiln::ops
