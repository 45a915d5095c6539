#include "plugins/objectives/rl.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/autograd/autograd.h"
#include "core/generation/generate.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"
#include "core/tensor/factory.h"
#include "core/train/rng_state.h"

namespace kiln::objectives {

using Clock = std::chrono::steady_clock;

namespace {

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

// Mean and Bessel-corrected standard deviation (0 for fewer than two values).
std::pair<double, double> mean_std(const double* x, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m += x[i];
  m /= double(n);
  double v = 0;
  for (size_t i = 0; i < n; ++i) v += (x[i] - m) * (x[i] - m);
  return {m, n > 1 ? std::sqrt(v / double(n - 1)) : 0.0};
}

// Eval mode for a scope (the rollout's log-probs match generation's: no dropout).
class EvalScope {
 public:
  explicit EvalScope(nn::Model& m) : m_(m), was_(m.is_training()) { m_.eval(); }
  ~EvalScope() { m_.train(was_); }

 private:
  nn::Model& m_;
  bool was_;
};

}  // namespace

std::vector<double> gae(const std::vector<double>& rewards, const std::vector<double>& values,
                        double gamma, double lam) {
  KILN_CHECK(rewards.size() == values.size(), "gae: ", rewards.size(), " rewards but ",
             values.size(), " values");
  const size_t n = rewards.size();
  std::vector<double> adv(n);
  double last = 0;
  for (size_t t = n; t-- > 0;) {
    const double next = t + 1 < n ? values[t + 1] : 0.0;
    const double delta = rewards[t] + gamma * next - values[t];
    adv[t] = last = delta + gamma * lam * last;
  }
  return adv;
}

std::vector<double> group_advantages(const std::vector<double>& rewards, int64_t group,
                                     ScaleRewards scale) {
  KILN_CHECK(group > 0 && !rewards.empty() && rewards.size() % size_t(group) == 0,
             "group_advantages: ", rewards.size(), " rewards do not make groups of ", group);
  const size_t G = size_t(group);
  std::vector<double> adv(rewards.size());
  const double batch_std = mean_std(rewards.data(), rewards.size()).second;
  for (size_t g = 0; g < rewards.size(); g += G) {
    auto [m, s] = mean_std(rewards.data() + g, G);
    const double div = scale == ScaleRewards::group   ? s + 1e-4
                       : scale == ScaleRewards::batch ? batch_std + 1e-4
                                                      : 1.0;
    for (size_t i = g; i < g + G; ++i) adv[i] = (rewards[i] - m) / div;
  }
  return adv;
}

void whiten(std::vector<std::vector<double>>& x, bool shift_mean) {
  double sum = 0;
  size_t n = 0;
  for (const auto& row : x)
    for (double v : row) sum += v, ++n;
  if (n == 0) return;
  const double mean = sum / double(n);
  double ss = 0;
  for (const auto& row : x)
    for (double v : row) ss += (v - mean) * (v - mean);
  const double var = n > 1 ? ss / double(n - 1) : 0.0;
  const double inv = 1.0 / std::sqrt(var + 1e-8);
  for (auto& row : x)
    for (double& v : row) v = (v - mean) * inv + (shift_mean ? 0.0 : mean);
}

Tensor kl_k3(const Tensor& logp, const Tensor& ref_logp) {
  Tensor d = ops::sub(ref_logp, logp);
  return ops::sub(ops::sub(ops::exp(d), d), 1.0);
}

ClippedLoss clipped_policy_loss(const Tensor& logp, const Tensor& old_logp, const Tensor& adv,
                                const Tensor& mask, double eps_low, double eps_high) {
  Tensor ratio = ops::exp(ops::sub(logp, old_logp));
  Tensor l1 = ops::neg(ops::mul(adv, ratio));
  Tensor l2 = ops::neg(ops::mul(adv, ops::clamp(ratio, 1.0 - eps_low, 1.0 + eps_high)));
  // Inside the range l1 == l2 and maximum() splits the gradient between two equal branches:
  // the sum is the unclipped gradient.
  ClippedLoss out;
  out.per_token = ops::mul(ops::maximum(l1, l2), mask);
  autograd::NoGrad no_grad;
  out.clipped = ops::mul(ops::gt(l2, l1).to(mask.dtype()), mask);
  return out;
}

ClippedLoss clipped_value_loss(const Tensor& values, const Tensor& old_values,
                               const Tensor& returns, const Tensor& mask, double clip) {
  Tensor vclip = ops::add(old_values, ops::clamp(ops::sub(values, old_values), -clip, clip));
  Tensor a = ops::square(ops::sub(values, returns));
  Tensor b = ops::square(ops::sub(vclip, returns));
  ClippedLoss out;
  out.per_token = ops::mul(ops::mul(ops::maximum(a, b), mask), 0.5);
  autograd::NoGrad no_grad;
  out.clipped = ops::mul(ops::gt(b, a).to(mask.dtype()), mask);
  return out;
}

Tensor reduce_loss(const Tensor& per_token, const Tensor& mask, LossNorm norm, int64_t max_tokens) {
  Tensor masked = ops::mul(per_token, mask);
  switch (norm) {
    case LossNorm::token: {
      const double n = ops::sum(mask).item();
      return ops::div(ops::sum(masked), std::max(n, 1.0));
    }
    case LossNorm::sequence: {
      Tensor n = ops::maximum(ops::sum(mask, {1}), full({mask.size(0)}, 1.0, mask.dtype()));
      return ops::mean(ops::div(ops::sum(masked, {1}), n));
    }
    case LossNorm::constant:
      return ops::div(ops::sum(masked),
                      double(per_token.size(0) * std::max<int64_t>(max_tokens, 1)));
  }
  return Tensor();
}

double masked_mean(const Tensor& x, const Tensor& mask) {
  autograd::NoGrad no_grad;
  const std::vector<double> v = x.to(DType::f64).contiguous().to_vector<double>();
  const std::vector<double> m = mask.to(DType::f64).contiguous().to_vector<double>();
  double s = 0, n = 0;
  for (size_t i = 0; i < v.size(); ++i) s += v[i] * m[i], n += m[i];
  return n > 0 ? s / n : 0.0;
}

Rows collate_samples(const std::vector<const Sample*>& samples, int32_t pad, DType dtype) {
  KILN_CHECK(!samples.empty(), "rl: no samples to collate");
  const int64_t n = int64_t(samples.size());
  int64_t L = 2;
  for (const Sample* s : samples)
    L = std::max<int64_t>(L, int64_t(s->prompt.size() + s->completion.size()));
  std::vector<int64_t> in(size_t(n * L), pad), tg(size_t(n * L), -100);
  std::vector<double> mask(size_t(n * L), 0.0);
  Rows r;
  for (int64_t i = 0; i < n; ++i) {
    const Sample& s = *samples[size_t(i)];
    const int64_t p = int64_t(s.prompt.size());
    KILN_CHECK(p > 0, "rl: a sample has an empty prompt");
    for (int64_t t = 0; t < p; ++t) in[size_t(i * L + t)] = s.prompt[size_t(t)];
    for (size_t j = 0; j < s.completion.size(); ++j) {
      in[size_t(i * L + p) + j] = s.completion[j];
      tg[size_t(i * L + p - 1) + j] = s.completion[j];
      mask[size_t(i * L + p - 1) + j] = 1.0;
    }
    r.tokens += int64_t(s.completion.size());
  }
  r.batch.inputs = from_vector<int64_t>(in, Shape{n, L});
  r.batch.targets = from_vector<int64_t>(tg, Shape{n, L});
  r.mask = from_vector<double>(mask, Shape{n, L}).to(dtype);
  return r;
}

Tensor per_token(const std::vector<const Sample*>& samples, std::vector<double> Sample::*field,
                 int64_t L, DType dtype) {
  const int64_t n = int64_t(samples.size());
  std::vector<double> out(size_t(n * L), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    const Sample& s = *samples[size_t(i)];
    const std::vector<double>& v = s.*field;
    KILN_CHECK(v.size() == s.completion.size(), "rl: a sample holds ", v.size(),
               " per-token values for ", s.completion.size(), " completion tokens");
    const int64_t p = int64_t(s.prompt.size());
    for (size_t j = 0; j < v.size(); ++j) out[size_t(i * L + p - 1) + j] = v[j];
  }
  return from_vector<double>(out, Shape{n, L}).to(dtype);
}

Tensor completion_logps(const Tensor& logits, const Tensor& targets, double temperature) {
  if (temperature > 0 && temperature != 1.0)
    return token_logps(ops::mul(logits, 1.0 / temperature), targets);
  return token_logps(logits, targets);
}

double mean_entropy(const Tensor& logits, const Tensor& mask, double temperature) {
  autograd::NoGrad no_grad;
  Tensor l = logits.dtype() == DType::f64 ? logits : logits.to(DType::f32);
  if (temperature > 0 && temperature != 1.0) l = ops::mul(l, 1.0 / temperature);
  Tensor lp = ops::log_softmax(l, -1);
  Tensor h = ops::neg(ops::sum(ops::mul(ops::exp(lp), lp), {2}));
  return masked_mean(h, mask);
}

std::vector<std::vector<int32_t>> batch_prompts(const data::Batch& batch, const char* who) {
  KILN_CHECK(batch.inputs.defined() && batch.inputs.dim() == 2, who,
             ": expected inputs of shape [B, T]");
  KILN_CHECK(batch.prompt_lengths.defined(), who,
             ": the batch has no prompt_lengths; RL objectives generate from prompts: use the "
             "`prompts` dataset (or unpacked prompt_response data)");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  KILN_CHECK(batch.prompt_lengths.shape() == Shape{B}, who, ": prompt_lengths ",
             batch.prompt_lengths.shape(), " should be [", B, "]");
  const std::vector<int64_t> in = batch.inputs.to(DType::i64).contiguous().to_vector<int64_t>();
  const std::vector<int64_t> len = batch.prompt_lengths.to(DType::i64).to_vector<int64_t>();
  std::vector<std::vector<int32_t>> out(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const int64_t n = len[size_t(b)];
    KILN_CHECK(n >= 1 && n <= T, who, ": row ", b, " has a prompt of ", n, " tokens (rows of ", T,
               "); every row needs a prompt of at least one token");
    for (int64_t t = 0; t < n; ++t) out[size_t(b)].push_back(int32_t(in[size_t(b * T + t)]));
  }
  return out;
}

// ---- RlObjective --------------------------------------------------------------------------

RlObjective::RlObjective(RlOptions options, std::shared_ptr<train::Reward> reward, const char* name)
    : o_(options), reward_(std::move(reward)), name_(name) {
  KILN_CHECK(reward_ != nullptr, name_, ": no reward");
  KILN_CHECK(o_.max_tokens >= 1, name_, ": max_tokens must be >= 1, got ", o_.max_tokens);
  KILN_CHECK(o_.epochs >= 1 && o_.minibatches >= 1, name_,
             ": epochs and minibatches must be >= 1, got ", o_.epochs, " and ", o_.minibatches);
}

void RlObjective::prepare(const train::ObjectiveContext& context) {
  if (context.model) reference_.snapshot(*context.model);
  seed_ = context.seed;
  generator_.manual_seed(context.seed ^ 0x5DEECE66Dull);
  if (!o_.eos && context.tokenizer) o_.eos = context.tokenizer->eos_id();
  reward_->prepare({context.tokenizer, context.seed});
}

namespace {

template <class T>
Config list_of(const std::vector<T>& v) {
  Config c = Config::list();
  for (const T& x : v) {
    if constexpr (std::is_floating_point_v<T>) c.push_back(Config(double(x)));
    else c.push_back(Config(int64_t(x)));
  }
  return c;
}

template <class T>
std::vector<T> vector_of(const Config& c) {
  std::vector<T> v;
  v.reserve(c.size());
  for (const Config& x : c.items()) {
    if constexpr (std::is_floating_point_v<T>) v.push_back(T(x.as_number()));
    else v.push_back(T(x.as_int()));
  }
  return v;
}

// The per-token fields of a Sample, by name.
constexpr std::pair<const char*, std::vector<double> Sample::*> kTokenFields[] = {
    {"old_logps", &Sample::old_logps}, {"ref_logps", &Sample::ref_logps},
    {"values", &Sample::values},       {"advantages", &Sample::advantages},
    {"returns", &Sample::returns}};

}  // namespace

Config RlObjective::state() const {
  Config s = Config::table();
  s.set("generator", train::rng_config(generator_.state()));
  if (queue_.empty()) return s;  // the next step draws a new rollout
  Config samples = Config::list();
  for (const Sample& x : buffer_) {
    Config c = Config::table();
    c.set("prompt", list_of(x.prompt));
    c.set("completion", list_of(x.completion));
    c.set("eos", Config(x.eos));
    c.set("reward", Config(x.reward));
    for (const auto& [name, field] : kTokenFields) c.set(name, list_of(x.*field));
    samples.push_back(std::move(c));
  }
  s.set("buffer", std::move(samples));
  Config queue = Config::list();
  for (const std::vector<size_t>& part : queue_) queue.push_back(list_of(part));
  s.set("minibatches", std::move(queue));
  Config metrics = Config::table();
  for (const auto& [k, v] : rollout_metrics_) metrics.set(k, Config(v));
  s.set("rollout_metrics", std::move(metrics));
  return s;
}

void RlObjective::load_state(const Config& s) {
  generator_.set_state(train::rng_from(s.at("generator")));
  buffer_.clear();
  queue_.clear();
  rollout_metrics_.clear();
  rollout_end_.reset();
  if (!s.has("buffer")) return;
  for (const Config& c : s.at("buffer").items()) {
    Sample x;
    x.prompt = vector_of<int32_t>(c.at("prompt"));
    x.completion = vector_of<int32_t>(c.at("completion"));
    x.eos = c.at("eos").as_bool();
    x.reward = c.at("reward").as_number();
    for (const auto& [name, field] : kTokenFields) x.*field = vector_of<double>(c.at(name));
    buffer_.push_back(std::move(x));
  }
  for (const Config& part : s.at("minibatches").items()) {
    queue_.push_back(vector_of<size_t>(part));
    for (size_t i : queue_.back())
      if (i >= buffer_.size())
        part.fail(str_cat("sample ", i, " of a rollout of ", buffer_.size()));
  }
  for (const auto& [k, v] : s.at("rollout_metrics").entries())
    rollout_metrics_[k] = v.as_number();
}

void RlObjective::policy_pass(nn::Model& model, const Rows& rows, std::vector<Sample>& samples) {
  nn::ForwardState st;
  Tensor logits = policy_logits(model, rows.batch, st, name_);
  const std::vector<double> lp = completion_logps(logits, rows.batch.targets, temperature())
                                     .to(DType::f64)
                                     .to_vector<double>();
  const int64_t L = rows.batch.inputs.size(1);
  for (size_t i = 0; i < samples.size(); ++i) {
    Sample& s = samples[i];
    const size_t p = s.prompt.size();
    s.old_logps.assign(s.completion.size(), 0.0);
    for (size_t j = 0; j < s.completion.size(); ++j) s.old_logps[j] = lp[i * size_t(L) + p - 1 + j];
  }
}

std::vector<Sample> RlObjective::rollout(nn::Model& model,
                                         const std::vector<std::vector<int32_t>>& prompts) {
  const Clock::time_point t0 = Clock::now();
  std::vector<std::vector<int32_t>> expanded;
  for (const auto& p : prompts)
    for (int64_t k = 0; k < copies(); ++k) expanded.push_back(p);
  generation::GenerateOptions g;
  g.max_tokens = o_.max_tokens;
  g.temperature = o_.temperature;
  g.top_k = o_.top_k;
  g.top_p = o_.top_p;
  g.generator = &generator_;
  g.use_cache = o_.kv_cache;
  if (o_.eos) g.stop_tokens = {*o_.eos};
  std::vector<generation::Generation> gens = generation::generate(model, expanded, g);
  const Clock::time_point t1 = Clock::now();

  std::vector<Sample> samples(expanded.size());
  std::vector<std::vector<int32_t>> completions(expanded.size());
  for (size_t i = 0; i < samples.size(); ++i) {
    samples[i].prompt = expanded[i];
    samples[i].completion = completions[i] = gens[i].tokens;
    samples[i].eos = gens[i].finish == generation::FinishReason::stop_token;
  }
  const std::vector<double> rewards = reward_->score(expanded, completions);
  KILN_CHECK(rewards.size() == samples.size(), name_, ": the reward gave ", rewards.size(),
             " scores for ", samples.size(), " completions");
  for (size_t i = 0; i < samples.size(); ++i) samples[i].reward = rewards[i];

  // The policy's and the reference's log-probs, a minibatch of rows at a time (the logits of
  // the whole rollout at once may not fit).
  {
    autograd::NoGrad no_grad;
    EvalScope eval(model);
    const size_t n = samples.size();
    const size_t chunk = (n + size_t(o_.minibatches) - 1) / size_t(o_.minibatches);
    for (size_t a = 0; a < n; a += chunk) {
      const size_t b = std::min(n, a + chunk);
      std::vector<Sample> part(std::make_move_iterator(samples.begin() + int64_t(a)),
                               std::make_move_iterator(samples.begin() + int64_t(b)));
      std::vector<const Sample*> ptrs;
      for (const Sample& s : part) ptrs.push_back(&s);
      const Rows rows = collate_samples(ptrs, pad(), DType::f64);
      policy_pass(model, rows, part);
      std::vector<double> ref;
      if (reference_.ready())
        ref = reference_.token_logps(model, rows.batch, name_, temperature())
                  .to(DType::f64)
                  .to_vector<double>();
      const size_t L = size_t(rows.batch.inputs.size(1));
      for (size_t i = 0; i < part.size(); ++i) {
        Sample& s = part[i];
        if (ref.empty()) {
          s.ref_logps = s.old_logps;  // no reference: no KL
        } else {
          s.ref_logps.assign(s.completion.size(), 0.0);
          for (size_t j = 0; j < s.completion.size(); ++j)
            s.ref_logps[j] = ref[i * L + s.prompt.size() - 1 + j];
        }
        samples[a + i] = std::move(s);
      }
    }
  }
  std::map<std::string, double>& m = rollout_metrics_;
  m.clear();
  double len = 0, eos = 0;
  std::vector<double> r(rewards);
  for (const Sample& s : samples) len += double(s.completion.size()), eos += s.eos;
  const auto [mean, std] = mean_std(r.data(), r.size());
  m["reward"] = mean;
  m["reward_std"] = std;
  m["completion_length"] = len / double(samples.size());
  m["eos_fraction"] = eos / double(samples.size());
  advantages(samples, m);
  const Clock::time_point t2 = Clock::now();
  m["time/generate_s"] = seconds(t0, t1);
  m["time/score_s"] = seconds(t1, t2);
  return samples;
}

train::LossOutput RlObjective::compute(nn::Model& model, const data::Batch& batch,
                                       nn::ForwardState& state) {
  if (!autograd::grad_enabled()) {
    // Evaluation: minus the mean reward of completions drawn afresh from a fixed seed.
    const std::vector<std::vector<int32_t>> prompts = batch_prompts(batch, name_);
    generation::GenerateOptions g;
    g.max_tokens = o_.max_tokens;
    g.temperature = o_.temperature;
    g.top_k = o_.top_k;
    g.top_p = o_.top_p;
    g.seed = seed_ ^ 0xE7A1ull;
    g.use_cache = o_.kv_cache;
    if (o_.eos) g.stop_tokens = {*o_.eos};
    std::vector<std::vector<int32_t>> completions;
    for (const generation::Generation& x : generation::generate(model, prompts, g))
      completions.push_back(x.tokens);
    const std::vector<double> r = reward_->score(prompts, completions);
    const double mean = std::accumulate(r.begin(), r.end(), 0.0) / double(r.size());
    train::LossOutput out;
    out.loss = full({}, -mean, DType::f32);
    out.tokens = int64_t(prompts.size());
    out.metrics["reward"] = mean;
    return out;
  }
  if (queue_.empty()) {
    const Clock::time_point start = Clock::now();
    const double train_s = rollout_end_ ? seconds(*rollout_end_, start) : 0.0;
    buffer_ = rollout(model, batch_prompts(batch, name_));
    const size_t n = buffer_.size();
    KILN_CHECK(size_t(o_.minibatches) <= n, name_, ": ", o_.minibatches,
               " minibatches for a rollout of ", n,
               " completions; lower minibatches or raise "
               "the batch");
    if (rollout_end_) rollout_metrics_["time/train_s"] = train_s;
    for (int64_t e = 0; e < o_.epochs; ++e) {
      std::vector<size_t> order(n);
      std::iota(order.begin(), order.end(), size_t(0));
      const std::vector<double> u = rand({int64_t(n)}, DType::f64, &generator_).to_vector<double>();
      for (size_t i = n; i-- > 1;) std::swap(order[i], order[size_t(u[i] * double(i + 1))]);
      for (int64_t k = 0; k < o_.minibatches; ++k) {
        const size_t a = n * size_t(k) / size_t(o_.minibatches);
        const size_t b = n * size_t(k + 1) / size_t(o_.minibatches);
        queue_.emplace_back(order.begin() + int64_t(a), order.begin() + int64_t(b));
      }
    }
    rollout_end_ = Clock::now();
  }
  std::vector<const Sample*> part;
  for (size_t i : queue_.front()) part.push_back(&buffer_[i]);
  queue_.pop_front();
  train::LossOutput out = loss(model, part, state);
  for (const auto& [k, v] : rollout_metrics_) out.metrics.emplace(k, v);
  return out;
}

}  // namespace kiln::objectives
