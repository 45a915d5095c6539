#include "plugins/objectives/grpo.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"

namespace kiln::objectives {

Grpo::Grpo(RlOptions rl, GrpoOptions options, std::shared_ptr<train::Reward> reward)
    : RlObjective(rl, std::move(reward), "grpo"), g_(options) {
  KILN_CHECK(g_.group >= 1, "grpo: group must be >= 1, got ", g_.group);
  KILN_CHECK(g_.beta >= 0, "grpo: beta must be >= 0, got ", g_.beta);
}

void Grpo::advantages(std::vector<Sample>& samples, std::map<std::string, double>& metrics) {
  std::vector<double> r;
  for (const Sample& s : samples) r.push_back(s.reward);
  const std::vector<double> adv = group_advantages(r, g_.group, g_.scale);
  for (size_t i = 0; i < samples.size(); ++i)
    samples[i].advantages.assign(samples[i].completion.size(), adv[i]);
  // Groups with one reward for all give no gradient.
  double flat = 0, groups = 0;
  for (size_t a = 0; a < r.size(); a += size_t(g_.group), ++groups) {
    bool same = true;
    for (size_t i = a; i < a + size_t(g_.group); ++i) same &= r[i] == r[a];
    flat += same;
  }
  metrics["reward_std_zero"] = flat / groups;
}

train::LossOutput Grpo::loss(nn::Model& model, const std::vector<const Sample*>& samples,
                             nn::ForwardState& state) {
  const Rows rows = collate_samples(samples, pad(), DType::f64);
  Tensor logits = policy_logits(model, rows.batch, state, "grpo");
  Tensor logp = completion_logps(logits, rows.batch.targets, temperature());
  const DType dt = logp.dtype();
  const int64_t L = logp.size(1);
  Tensor mask = rows.mask.to(dt);
  Tensor old = per_token(samples, &Sample::old_logps, L, dt);
  Tensor adv = per_token(samples, &Sample::advantages, L, dt);
  Tensor ref = per_token(samples, &Sample::ref_logps, L, dt);
  ClippedLoss pol = clipped_policy_loss(logp, old, adv, mask, o_.cliprange,
                                        o_.cliprange_high < 0 ? o_.cliprange : o_.cliprange_high);
  Tensor kl = kl_k3(logp, ref);
  Tensor per = pol.per_token;
  if (g_.beta > 0) per = ops::add(per, ops::mul(ops::mul(kl, mask), g_.beta));
  train::LossOutput out;
  out.loss = reduce_loss(per, mask, g_.norm, o_.max_tokens);
  out.tokens =
      g_.norm == LossNorm::token ? std::max<int64_t>(rows.tokens, 1) : int64_t(samples.size());
  autograd::NoGrad no_grad;
  out.metrics["kl"] = masked_mean(kl, mask);
  out.metrics["clip_fraction"] = masked_mean(pol.clipped, mask);
  out.metrics["loss/policy"] = reduce_loss(pol.per_token, mask, g_.norm, o_.max_tokens).item();
  out.metrics["entropy"] = mean_entropy(logits, mask, temperature());
  return out;
}

}  // namespace kiln::objectives
