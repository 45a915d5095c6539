#include "plugins/objectives/ppo.h"

#include <algorithm>
#include <cmath>

#include "core/autograd/autograd.h"
#include "core/ops/elementwise.h"

namespace kiln::objectives {

double adaptive_kl_coef(double coef, double kl, double target, double horizon, int64_t n) {
  const double e = std::clamp(kl / target - 1.0, -0.2, 0.2);
  return coef * (1.0 + e * double(n) / horizon);
}

ValueHead& as_value_head(nn::Model& model) {
  auto* v = dynamic_cast<ValueHead*>(&model);
  KILN_CHECK(v != nullptr,
             "ppo: the model has no value head; wrap the policy in value_head { model = ... }");
  return *v;
}

Ppo::Ppo(RlOptions rl, PpoOptions options, std::shared_ptr<train::Reward> reward)
    : RlObjective(rl, std::move(reward), "ppo"), p_(options), kl_coef_(options.kl_coef) {
  KILN_CHECK(p_.kl_coef >= 0, "ppo: kl_coef must be >= 0, got ", p_.kl_coef);
  KILN_CHECK(!p_.adaptive_kl || (p_.kl_target > 0 && p_.kl_horizon > 0),
             "ppo: the adaptive KL needs kl_target > 0 and kl_horizon > 0");
}

Config Ppo::state() const {
  Config s = RlObjective::state();
  s.set("kl_coef", Config(kl_coef_));
  return s;
}

void Ppo::load_state(const Config& s) {
  RlObjective::load_state(s);
  kl_coef_ = s.at("kl_coef").as_number();
}

void Ppo::policy_pass(nn::Model& model, const Rows& rows, std::vector<Sample>& samples) {
  ValueHead& vh = as_value_head(model);
  RlObjective::policy_pass(model, rows, samples);  // its forward leaves the values in the head
  const std::vector<double> v = vh.values().to(DType::f64).contiguous().to_vector<double>();
  vh.release();
  const size_t L = size_t(rows.batch.inputs.size(1));
  for (size_t i = 0; i < samples.size(); ++i) {
    Sample& s = samples[i];
    s.values.assign(s.completion.size(), 0.0);
    for (size_t j = 0; j < s.completion.size(); ++j)
      s.values[j] = v[i * L + s.prompt.size() - 1 + j];
  }
}

void Ppo::advantages(std::vector<Sample>& samples, std::map<std::string, double>& metrics) {
  double score_sum = 0, kl_sum = 0;
  std::vector<std::vector<double>> adv(samples.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    Sample& s = samples[i];
    const double score = s.reward - (s.eos ? 0.0 : p_.missing_eos_penalty);
    score_sum += score;
    const size_t n = s.completion.size();
    std::vector<double> r(n);
    for (size_t t = 0; t < n; ++t) {
      const double d = s.ref_logps[t] - s.old_logps[t];  // log ref/pi
      const double kl = p_.k3 ? std::exp(d) - d - 1.0 : -d;
      kl_sum += kl;
      r[t] = -kl_coef_ * kl;
    }
    if (n > 0) r[n - 1] += score;
    adv[i] = gae(r, s.values, p_.gamma, p_.lam);
    s.returns.resize(n);
    for (size_t t = 0; t < n; ++t) s.returns[t] = adv[i][t] + s.values[t];
  }
  if (p_.whiten_advantages) whiten(adv);
  for (size_t i = 0; i < samples.size(); ++i) samples[i].advantages = std::move(adv[i]);
  const double N = double(samples.size());
  metrics["score"] = score_sum / N;
  metrics["kl"] = kl_sum / N;
  metrics["non_score_reward"] = -kl_coef_ * kl_sum / N;
  metrics["rlhf_reward"] = (score_sum - kl_coef_ * kl_sum) / N;
  metrics["kl_coef"] = kl_coef_;
  if (p_.adaptive_kl)
    kl_coef_ = adaptive_kl_coef(kl_coef_, kl_sum / N, p_.kl_target, p_.kl_horizon,
                                int64_t(samples.size()));
}

train::LossOutput Ppo::loss(nn::Model& model, const std::vector<const Sample*>& samples,
                            nn::ForwardState& state) {
  ValueHead& vh = as_value_head(model);
  const Rows rows = collate_samples(samples, pad(), DType::f64);
  Tensor logits = policy_logits(vh, rows.batch, state, "ppo");
  Tensor values = vh.values();
  vh.release();
  Tensor logp = completion_logps(logits, rows.batch.targets, temperature());
  const DType dt = logp.dtype();
  const int64_t L = logp.size(1);
  values = values.to(dt);
  Tensor mask = rows.mask.to(dt);
  Tensor old = per_token(samples, &Sample::old_logps, L, dt);
  Tensor adv = per_token(samples, &Sample::advantages, L, dt);
  Tensor old_v = per_token(samples, &Sample::values, L, dt);
  Tensor ret = per_token(samples, &Sample::returns, L, dt);
  ClippedLoss pg = clipped_policy_loss(logp, old, adv, mask, o_.cliprange,
                                       o_.cliprange_high < 0 ? o_.cliprange : o_.cliprange_high);
  ClippedLoss vf = clipped_value_loss(values, old_v, ret, mask, p_.cliprange_value);
  Tensor pg_loss = reduce_loss(pg.per_token, mask, LossNorm::token, o_.max_tokens);
  Tensor vf_loss = reduce_loss(vf.per_token, mask, LossNorm::token, o_.max_tokens);
  train::LossOutput out;
  out.loss = ops::add(pg_loss, ops::mul(vf_loss, p_.vf_coef));
  out.tokens = std::max<int64_t>(rows.tokens, 1);
  autograd::NoGrad no_grad;
  out.metrics["loss/policy"] = pg_loss.item();
  out.metrics["loss/value"] = vf_loss.item();
  out.metrics["clip_fraction"] = masked_mean(pg.clipped, mask);
  out.metrics["value_clip_fraction"] = masked_mean(vf.clipped, mask);
  out.metrics["approx_kl"] = 0.5 * masked_mean(ops::square(ops::sub(logp, old)), mask);
  out.metrics["entropy"] = mean_entropy(logits, mask, temperature());
  return out;
}

}  // namespace kiln::objectives
