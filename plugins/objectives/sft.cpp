#include "plugins/objectives/sft.h"

#include "core/ops/loss.h"

namespace kiln::objectives {

train::LossOutput Sft::compute(nn::Model& model, const data::Batch& batch,
                               nn::ForwardState& state) {
  Tensor logits = policy_logits(model, batch, state, "sft");
  train::LossOutput out;
  for (int64_t id : batch.targets.to(DType::i64).to_vector<int64_t>()) out.tokens += id != -100;
  KILN_CHECK(out.tokens > 0, "sft: the batch has no response tokens (every target is -100)");
  ops::CrossEntropyOptions ce;
  ce.ignore_index = -100;
  out.loss = ops::cross_entropy(logits, batch.targets, ce);
  return out;
}

}  // namespace kiln::objectives
