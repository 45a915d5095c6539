#include "core/train/logprobs.h"

#include "core/ops/elementwise.h"
#include "core/ops/loss.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::train {

Tensor policy_logits(nn::Model& model, const data::Batch& batch, nn::ForwardState& state,
                     const char* who) {
  const Tensor& inputs = batch.inputs;
  KILN_CHECK(inputs.defined() && inputs.dim() == 2, who, ": expected inputs of shape [B, T], got ",
             inputs.defined() ? str_cat(inputs.shape()) : std::string("none"));
  KILN_CHECK(inputs.dtype() == DType::i64 || inputs.dtype() == DType::i32, who,
             ": expected integer token ids, got ", dtype_name(inputs.dtype()));
  KILN_CHECK(batch.targets.defined(), who,
             ": the batch has no targets; this objective needs data that marks the response "
             "tokens (targets of -100 on the prompt), such as the preference or "
             "prompt_response datasets");
  KILN_CHECK(batch.targets.shape() == inputs.shape(), who, ": targets ", batch.targets.shape(),
             " do not match inputs ", inputs.shape());
  for (const Tensor* t : {&batch.positions, &batch.segment_ids})
    if (t->defined())
      KILN_CHECK(t->shape() == inputs.shape(), who, ": positions/segment_ids ", t->shape(),
                 " do not match inputs ", inputs.shape());
  if (batch.positions.defined()) state.positions = batch.positions;
  if (batch.segment_ids.defined()) state.segment_ids = batch.segment_ids;
  Tensor logits = model.forward(inputs, state);
  KILN_CHECK(
      logits.dim() == 3 && logits.size(0) == inputs.size(0) && logits.size(1) == inputs.size(1),
      who, ": the model returned logits of shape ", logits.shape(), " for inputs ", inputs.shape(),
      "; expected [B, T, vocab]");
  return logits;
}

Tensor token_logps(const Tensor& logits, const Tensor& targets) {
  // The fused cross-entropy with no reduction is -log p(target) per position and 0 where the
  // target is ignored: exactly the masked per-token log-probs, without a [B, T, V] log-softmax.
  ops::CrossEntropyOptions ce;
  ce.ignore_index = -100;
  ce.reduction = ops::Reduction::none;
  return ops::neg(ops::cross_entropy(logits, targets, ce));
}

SequenceLogps sequence_logps(const Tensor& logits, const Tensor& targets) {
  SequenceLogps out;
  out.sum = ops::sum(token_logps(logits, targets), {1});
  Tensor mask = ops::ne(targets, full(targets.shape(), -100.0, targets.dtype()));
  out.tokens = ops::sum(mask.to(out.sum.dtype()), {1});
  return out;
}

}  // namespace kiln::train
