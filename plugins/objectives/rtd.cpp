#include "plugins/objectives/rtd.h"

#include <cmath>

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "plugins/objectives/mlm.h"

namespace kiln::objectives {

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& targets,
                                        const Tensor& weight) {
  const DType dt = logits.dtype() == DType::f64 ? DType::f64 : DType::f32;
  const Tensor x = logits.to(dt);
  const Tensor per = ops::sub(ops::softplus(x), ops::mul(x, targets.to(dt)));
  const Tensor w = weight.to(dt);
  return ops::div(ops::sum(ops::mul(per, w)), ops::sum(w).detach());
}

std::vector<int32_t> sample_rows(const Tensor& logits, double temperature, Rng& rng) {
  autograd::NoGrad no_grad;
  const int64_t N = logits.size(0), C = logits.size(1);
  const std::vector<double> v = logits.detach().to_vector<double>();
  std::vector<int32_t> out(static_cast<size_t>(N));
  std::vector<double> p(static_cast<size_t>(C));
  for (int64_t r = 0; r < N; ++r) {
    const double* row = v.data() + r * C;
    double m = -INFINITY;
    for (int64_t c = 0; c < C; ++c) m = std::max(m, row[c] / temperature);
    double sum = 0;
    for (int64_t c = 0; c < C; ++c) sum += p[size_t(c)] = std::exp(row[c] / temperature - m);
    // Inverse CDF; the last class takes what rounding leaves.
    double u = rng.uniform() * sum;
    int64_t pick = C - 1;
    for (int64_t c = 0; c < C; ++c) {
      u -= p[size_t(c)];
      if (u < 0) {
        pick = c;
        break;
      }
    }
    out[size_t(r)] = int32_t(pick);
  }
  return out;
}

void ReplacedTokenDetection::prepare(const train::ObjectiveContext& context) {
  KILN_CHECK(lambda_ >= 0, "rtd: lambda must be >= 0, got ", lambda_);
  KILN_CHECK(temperature_ > 0, "rtd: the sampling temperature must be > 0, got ", temperature_);
  masker_.prepare(context, "rtd");
  pad_ = context.tokenizer->special_id("pad");
  if (context.model)
    KILN_CHECK(dynamic_cast<const nn::ElectraModel*>(context.model),
               "rtd: the model is not an ELECTRA model (a generator and a discriminator): use "
               "electra {...}");
}

train::LossOutput ReplacedTokenDetection::compute(nn::Model& model, const data::Batch& batch,
                                                  nn::ForwardState& state) {
  auto* electra = dynamic_cast<nn::ElectraModel*>(&model);
  KILN_CHECK(electra, "rtd: the model is not an ELECTRA model (a generator and a discriminator)");
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, "rtd");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  const Device device = batch.inputs.device();
  Generator& gen = state.generator ? *state.generator : default_generator();
  const MaskedBatch m = masker_.apply(tokens, B, T, gen);
  if (batch.positions.defined()) state.positions = batch.positions;
  if (batch.segment_ids.defined()) state.segment_ids = batch.segment_ids;
  set_key_padding(state, tokens, B, T, pad_, device);

  train::LossOutput out;
  // The generator: MLM on the masked inputs, its head on the masked positions only.
  nn::EncoderModel& generator = electra->generator();
  nn::ForwardState gen_state = state;
  const Tensor masked = ids_tensor(std::span<const int32_t>(m.inputs), {B, T}, device);
  const Tensor gen_hidden = generator.encode(masked, gen_state);
  const Tensor flat = gen_hidden.reshape({B * T, gen_hidden.size(2)});
  const Tensor idx =
      ids_tensor(std::span<const int64_t>(m.positions), {int64_t(m.positions.size())}, device);
  const Tensor gen_logits = generator.mlm_logits(ops::index_select(flat, 0, idx));  // [N, V]
  std::vector<int64_t> originals;
  originals.reserve(m.positions.size());
  for (int64_t p : m.positions) originals.push_back(m.labels[size_t(p)]);
  const Tensor mlm = ops::cross_entropy(
      gen_logits,
      ids_tensor(std::span<const int64_t>(originals), {int64_t(originals.size())}, device));
  out.metrics["mlm_accuracy"] = accuracy(gen_logits, originals);

  // Sampled replacements (no gradient), and which tokens they changed.
  Rng rng(gen);
  const std::vector<int32_t> samples = sample_rows(gen_logits, temperature_, rng);
  std::vector<int32_t> corrupted(tokens);
  std::vector<double> replaced(tokens.size(), 0.0), scored(tokens.size(), 1.0);
  for (size_t k = 0; k < m.positions.size(); ++k) {
    const size_t p = size_t(m.positions[k]);
    corrupted[p] = samples[k];
    replaced[p] = samples[k] != tokens[p] ? 1.0 : 0.0;
  }
  if (pad_)
    for (size_t i = 0; i < tokens.size(); ++i) scored[i] = tokens[i] != *pad_;

  // The discriminator: every (scored) token, original or replaced.
  nn::ForwardState disc_state = state;
  const Tensor disc_in = ids_tensor(std::span<const int32_t>(corrupted), {B, T}, device);
  const Tensor disc_logits = electra->discriminator_logits(electra->encode(disc_in, disc_state));
  KILN_CHECK(disc_logits.dim() == 2 && disc_logits.size(0) == B && disc_logits.size(1) == T,
             "rtd: the discriminator returned logits of shape ", disc_logits.shape(),
             "; expected [", B, ", ", T, "]");
  Tensor y = from_vector(replaced, {B, T});
  Tensor w = from_vector(scored, {B, T});
  if (!(device == Device::cpu())) {
    y = y.to(device);
    w = w.to(device);
  }
  const Tensor rtd = binary_cross_entropy_with_logits(disc_logits, y, w);
  out.loss = ops::add(mlm, ops::mul(rtd, lambda_));

  const std::vector<double> d = disc_logits.detach().to_vector<double>();
  double right = 0, original = 0, n = 0, caught = 0;
  for (size_t i = 0; i < d.size(); ++i) {
    if (scored[i] == 0) continue;
    right += (d[i] > 0) == (replaced[i] > 0.5);
    original += replaced[i] < 0.5;
    caught += d[i] > 0 && replaced[i] > 0.5;
    ++n;
  }
  out.metrics["mlm_loss"] = mlm.detach().item();
  out.metrics["rtd_loss"] = rtd.detach().item();
  out.metrics["rtd_accuracy"] = n > 0 ? right / n : 0;
  out.metrics["rtd_original"] = n > 0 ? original / n : 0;
  out.metrics["rtd_recall"] = n > original ? caught / (n - original) : 0;
  out.tokens = int64_t(n);
  return out;
}

}  // namespace kiln::objectives
