#include "plugins/objectives/logprobs.h"

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/loss.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {

int64_t check_pairs(const data::Batch& batch, const char* who) {
  KILN_CHECK(batch.pairs > 0, who,
             ": the batch holds no preference pairs (Batch::pairs is 0); use a dataset of "
             "pairs such as `preference` (prompt, chosen, rejected)");
  KILN_CHECK(
      batch.inputs.defined() && batch.inputs.dim() == 2 && batch.inputs.size(0) == 2 * batch.pairs,
      who, ": a batch of ", batch.pairs, " pairs must have ", 2 * batch.pairs,
      " rows (chosen then rejected), got inputs ",
      batch.inputs.defined() ? str_cat(batch.inputs.shape()) : std::string("none"));
  if (batch.reference_logps.defined())
    KILN_CHECK(batch.reference_logps.shape() == Shape{2 * batch.pairs}, who, ": reference_logps ",
               batch.reference_logps.shape(), " should be [", 2 * batch.pairs, "], one per row");
  return batch.pairs;
}

void ReferencePolicy::snapshot(const nn::Model& model) {
  autograd::NoGrad no_grad;
  weights_.clear();
  for (const auto& [name, t] : model.state_dict()) weights_[name] = t.clone();
}

template <class Fn>
auto ReferencePolicy::with_reference(nn::Model& model, const char* who, Fn fn) {
  KILN_CHECK(ready(), who, ": the reference policy was not prepared (prepare() takes it)");
  autograd::NoGrad no_grad;
  nn::StateDict current;
  for (const auto& [name, t] : model.state_dict()) current[name] = t.clone();
  const bool training = model.is_training();
  model.load_state_dict(weights_);
  model.eval();
  try {
    auto out = fn(model);
    model.load_state_dict(current);
    model.train(training);
    return out;
  } catch (...) {
    model.load_state_dict(current);
    model.train(training);
    throw;
  }
}

SequenceLogps ReferencePolicy::logps(nn::Model& model, const data::Batch& batch, const char* who) {
  return with_reference(model, who, [&](nn::Model& m) {
    nn::ForwardState state;
    return sequence_logps(policy_logits(m, batch, state, who), batch.targets);
  });
}

Tensor ReferencePolicy::token_logps(nn::Model& model, const data::Batch& batch, const char* who,
                                    double temperature) {
  return with_reference(model, who, [&](nn::Model& m) {
    nn::ForwardState state;
    Tensor logits = policy_logits(m, batch, state, who);
    if (temperature > 0 && temperature != 1.0) logits = ops::mul(logits, 1.0 / temperature);
    return objectives::token_logps(logits, batch.targets);
  });
}

}  // namespace kiln::objectives
