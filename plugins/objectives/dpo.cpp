#include "plugins/objectives/dpo.h"

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {

void Dpo::prepare(const train::ObjectiveContext& context) {
  if (context.model && options_.reference_model) reference_.snapshot(*context.model);
}

Tensor Dpo::reference_logps(nn::Model& model, const data::Batch& batch) {
  check_pairs(batch, "dpo");
  return reference_.logps(model, batch, "dpo").sum;
}

train::LossOutput Dpo::compute(nn::Model& model, const data::Batch& batch,
                               nn::ForwardState& state) {
  const int64_t P = check_pairs(batch, "dpo");
  // The reference first: its swap of the weights must not happen inside the policy's graph.
  Tensor ref;
  if (batch.reference_logps.defined()) {
    ref = batch.reference_logps;
  } else {
    KILN_CHECK(reference_.ready(), "dpo: no reference: the batch has no stored reference_logps ",
               options_.reference_model ? "and prepare() was not given the model"
                                        : "and reference = \"stored\" keeps no reference model");
    ref = reference_.logps(model, batch, "dpo").sum;
  }
  SequenceLogps pol = sequence_logps(policy_logits(model, batch, state, "dpo"), batch.targets);
  const DType dt = pol.sum.dtype();
  ref = ref.to(dt);
  Tensor logps = pol.sum;
  if (options_.loss == DpoLoss::ipo) {
    // TRL: "if self.loss_type == 'ipo': all_logps = all_logps / size_completion", for the
    // policy and the reference alike.
    Tensor len = ops::maximum(pol.tokens, full(pol.tokens.shape(), 1.0, dt));
    logps = ops::div(logps, len);
    ref = ops::div(ref, len);
  }
  Tensor pc = logps.narrow(0, 0, P), pr = logps.narrow(0, P, P);
  Tensor rc = ref.narrow(0, 0, P), rr = ref.narrow(0, P, P);
  Tensor chosen = ops::sub(pc, rc), rejected = ops::sub(pr, rr);  // log ratios
  Tensor h = ops::sub(chosen, rejected);
  const double beta = options_.beta;
  Tensor losses;
  if (options_.loss == DpoLoss::ipo) {
    losses = ops::square(ops::sub(h, 1.0 / (2.0 * beta)));
  } else {
    // -log sigma(z) = softplus(-z).
    const double eps = options_.label_smoothing;
    Tensor bh = ops::mul(h, beta);
    losses = ops::mul(ops::softplus(ops::neg(bh)), 1.0 - eps);
    if (eps > 0) losses = ops::add(losses, ops::mul(ops::softplus(bh), eps));
  }
  train::LossOutput out;
  out.loss = ops::mean(losses);
  out.tokens = P;  // the loss is a mean over pairs: micro-batches are weighted by pairs

  autograd::NoGrad no_grad;
  const std::vector<double> c = ops::mul(chosen, beta).to(DType::f64).to_vector<double>();
  const std::vector<double> r = ops::mul(rejected, beta).to(DType::f64).to_vector<double>();
  const std::vector<double> lc = pc.to(DType::f64).to_vector<double>();
  const std::vector<double> lr = pr.to(DType::f64).to_vector<double>();
  double sc = 0, sr = 0, acc = 0, slc = 0, slr = 0;
  for (int64_t i = 0; i < P; ++i) {
    sc += c[i], sr += r[i], acc += c[i] > r[i], slc += lc[i], slr += lr[i];
  }
  out.metrics["rewards/chosen"] = sc / P;
  out.metrics["rewards/rejected"] = sr / P;
  out.metrics["rewards/margins"] = (sc - sr) / P;
  out.metrics["rewards/accuracies"] = acc / P;
  out.metrics["logps/chosen"] = slc / P;
  out.metrics["logps/rejected"] = slr / P;
  return out;
}

}  // namespace kiln::objectives
