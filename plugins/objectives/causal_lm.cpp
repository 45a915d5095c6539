#include "plugins/objectives/causal_lm.h"

#include "core/ops/loss.h"

namespace kiln::objectives {

train::LossOutput CausalLM::compute(nn::Model& model, const data::Batch& batch,
                                    nn::ForwardState& state) {
  const Tensor& inputs = batch.inputs;
  KILN_CHECK(inputs.defined() && inputs.dim() == 2,
             "causal_lm: expected inputs of shape [B, T], got ",
             inputs.defined() ? str_cat(inputs.shape()) : std::string("none"));
  KILN_CHECK(inputs.dtype() == DType::i64 || inputs.dtype() == DType::i32,
             "causal_lm: expected integer token ids, got ", dtype_name(inputs.dtype()));
  if (batch.targets.defined())
    KILN_CHECK(batch.targets.shape() == inputs.shape(), "causal_lm: targets ",
               batch.targets.shape(), " do not match inputs ", inputs.shape());
  for (const Tensor* t : {&batch.positions, &batch.segment_ids})
    if (t->defined())
      KILN_CHECK(t->shape() == inputs.shape(), "causal_lm: positions/segment_ids ", t->shape(),
                 " do not match inputs ", inputs.shape());
  if (batch.positions.defined()) state.positions = batch.positions;
  if (batch.segment_ids.defined()) state.segment_ids = batch.segment_ids;

  Tensor logits = model.forward(inputs, state);  // [B, T, V]
  KILN_CHECK(
      logits.dim() == 3 && logits.size(0) == inputs.size(0) && logits.size(1) == inputs.size(1),
      "causal_lm: the model returned logits of shape ", logits.shape(), " for inputs ",
      inputs.shape(), "; expected [B, T, vocab]");
  Tensor targets = batch.targets;
  if (!targets.defined()) {
    const int64_t T = inputs.size(1);
    KILN_CHECK(T >= 2, "causal_lm: without targets the inputs need at least 2 positions, got ", T);
    logits = logits.narrow(1, 0, T - 1);
    targets = inputs.narrow(1, 1, T - 1);
  }
  ops::CrossEntropyOptions ce;
  ce.ignore_index = -100;
  ce.label_smoothing = options_.label_smoothing;
  train::LossOutput out;
  out.loss = ops::cross_entropy(logits, targets, ce);
  for (int64_t id : targets.to_vector<int64_t>()) out.tokens += id != ce.ignore_index;
  return out;
}

}  // namespace kiln::objectives
