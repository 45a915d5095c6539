#include "plugins/objectives/bilm.h"

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {

void BiLMObjective::prepare(const train::ObjectiveContext& context) {
  if (context.model)
    KILN_CHECK(dynamic_cast<const nn::BiLMModel*>(context.model),
               "bilm: the model is not a bidirectional LM (elmo {...}): bilm needs forward and "
               "backward logits");
}

train::LossOutput BiLMObjective::compute(nn::Model& model, const data::Batch& batch,
                                         nn::ForwardState& state) {
  auto* bilm = dynamic_cast<nn::BiLMModel*>(&model);
  KILN_CHECK(bilm, "bilm: the model is not a bidirectional LM (elmo {...})");
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, "bilm");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  KILN_CHECK(T >= 2, "bilm: rows need at least 2 tokens, got ", T);
  const Device device = batch.inputs.device();
  if (batch.positions.defined()) state.positions = batch.positions;
  if (batch.segment_ids.defined()) state.segment_ids = batch.segment_ids;
  const nn::BiLMModel::Logits logits = bilm->bidirectional_logits(batch.inputs, state);
  for (const Tensor* l : {&logits.forward, &logits.backward})
    KILN_CHECK(l->dim() == 3 && l->size(0) == B && l->size(1) == T,
               "bilm: the model returned logits of shape ", l->shape(), " for inputs [", B, ", ", T,
               "]; expected [B, T, vocab]");

  // Forward: the batch's targets, or the inputs shifted left.
  Tensor fwd_logits = logits.forward, fwd_targets = batch.targets;
  if (!fwd_targets.defined()) {
    fwd_logits = fwd_logits.narrow(1, 0, T - 1);
    fwd_targets = batch.inputs.narrow(1, 1, T - 1);
  }
  // Backward: position t (t >= 1) predicts token t - 1, unless a document starts at t.
  std::vector<int64_t> bwd(size_t(B * (T - 1)));
  std::vector<int64_t> seg;
  if (batch.segment_ids.defined()) seg = batch.segment_ids.to_vector<int64_t>();
  for (int64_t b = 0; b < B; ++b)
    for (int64_t t = 1; t < T; ++t) {
      const size_t i = size_t(b * T + t);
      const bool crosses = !seg.empty() && seg[i] != seg[i - 1];
      bwd[size_t(b * (T - 1) + t - 1)] = crosses ? -100 : tokens[i - 1];
    }
  const Tensor bwd_targets = ids_tensor(std::span<const int64_t>(bwd), {B, T - 1}, device);
  const Tensor f = ops::cross_entropy(fwd_logits, fwd_targets);
  const Tensor b = ops::cross_entropy(logits.backward.narrow(1, 1, T - 1), bwd_targets);

  train::LossOutput out;
  out.loss = ops::mul(ops::add(f, b), 0.5);
  out.metrics["forward_loss"] = f.detach().item();
  out.metrics["backward_loss"] = b.detach().item();
  for (int64_t id : fwd_targets.to_vector<int64_t>()) out.tokens += id != -100;
  return out;
}

}  // namespace kiln::objectives
