#include "plugins/objectives/orpo.h"

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace kiln::objectives {

train::LossOutput Orpo::compute(nn::Model& model, const data::Batch& batch,
                                nn::ForwardState& state) {
  const int64_t P = check_pairs(batch, "orpo");
  SequenceLogps s = sequence_logps(policy_logits(model, batch, state, "orpo"), batch.targets);
  const std::vector<double> lens = s.tokens.to(DType::f64).to_vector<double>();
  for (int64_t i = 0; i < 2 * P; ++i)
    KILN_CHECK(lens[size_t(i)] > 0, "orpo: row ", i, " of the batch has no response tokens ",
               "(every target is -100): its odds are undefined");
  Tensor avg = ops::div(s.sum, s.tokens);  // mean log-prob per response token
  Tensor ac = avg.narrow(0, 0, P), ar = avg.narrow(0, P, P);
  // log(1 - exp(a)) for a < 0: TRL's torch.log1p(-torch.exp(a)).
  auto log1m_exp = [](const Tensor& a) { return ops::log(ops::neg(ops::sub(ops::exp(a), 1.0))); };
  Tensor log_odds = ops::sub(ops::sub(ac, ar), ops::sub(log1m_exp(ac), log1m_exp(ar)));
  Tensor ratio = ops::neg(ops::softplus(ops::neg(log_odds)));  // log sigma(log_odds)
  // The NLL of the chosen responses: mean over their tokens (TRL's cross-entropy over the
  // chosen half of the batch).
  Tensor chosen_sum = ops::sum(s.sum.narrow(0, 0, P));
  Tensor chosen_tokens = ops::sum(s.tokens.narrow(0, 0, P));
  Tensor nll = ops::neg(ops::div(chosen_sum, chosen_tokens));
  train::LossOutput out;
  out.loss = ops::sub(nll, ops::mul(ops::mean(ratio), lambda_));
  out.tokens = P;

  autograd::NoGrad no_grad;
  const std::vector<double> c = ac.to(DType::f64).to_vector<double>();
  const std::vector<double> r = ar.to(DType::f64).to_vector<double>();
  double sc = 0, sr = 0, acc = 0;
  for (int64_t i = 0; i < P; ++i) sc += c[i], sr += r[i], acc += c[i] > r[i];
  out.metrics["rewards/chosen"] = lambda_ * sc / P;
  out.metrics["rewards/rejected"] = lambda_ * sr / P;
  out.metrics["rewards/margins"] = lambda_ * (sc - sr) / P;
  out.metrics["rewards/accuracies"] = acc / P;
  out.metrics["logps/chosen"] = sc / P;
  out.metrics["logps/rejected"] = sr / P;
  out.metrics["nll_loss"] = nll.to(DType::f64).item();
  out.metrics["log_odds_ratio"] = ops::mean(ratio).to(DType::f64).item();
  out.metrics["log_odds_chosen"] = ops::mean(log_odds).to(DType::f64).item();
  return out;
}

}  // namespace kiln::objectives
