#include "plugins/objectives/sentence_pair.h"

#include "core/base/error.h"
#include "core/ops/ops.h"

namespace kiln::objectives {

void SentencePairObjective::prepare(const train::ObjectiveContext& context) {
  masker_.prepare(context, name());
  cls_ = require_special(context.tokenizer.get(), name(), "cls");
  sep_ = require_special(context.tokenizer.get(), name(), "sep");
  if (context.model) {
    auto* encoder = dynamic_cast<const nn::EncoderModel*>(context.model);
    KILN_CHECK(encoder, name(), ": the model is not an encoder (bert, albert, ...): ",
               "sentence pairs need an encoder with a sentence head");
    KILN_CHECK(encoder->sentence_classes() == 2, name(), ": the model's sentence head has ",
               encoder->sentence_classes(), " classes, but ", name(),
               " needs 2: give the model's spec sentence_head = 2");
  }
}

SentencePairObjective::Pairs SentencePairObjective::make_pairs(std::span<const int32_t> rows,
                                                               int64_t n_rows, int64_t cols,
                                                               Rng& rng) const {
  Pairs p;
  p.tokens.reserve(size_t(n_rows * cols));
  p.types.reserve(size_t(n_rows * cols));
  for (int64_t r = 0; r < n_rows; ++r) {
    const std::span<const int32_t> row = rows.subspan(size_t(r * cols), size_t(cols));
    // Random second segments come from another row, picked uniformly.
    const int64_t o = n_rows > 1 ? (r + 1 + rng.below(n_rows - 1)) % n_rows : r;
    const std::span<const int32_t> other = rows.subspan(size_t(o * cols), size_t(cols));
    SentencePair s = make_sentence_pair(row, other, task_, cls_, sep_, cols, rng);
    p.tokens.insert(p.tokens.end(), s.tokens.begin(), s.tokens.end());
    p.types.insert(p.types.end(), s.types.begin(), s.types.end());
    p.labels.push_back(s.label);
  }
  return p;
}

train::LossOutput SentencePairObjective::compute(nn::Model& model, const data::Batch& batch,
                                                 nn::ForwardState& state) {
  auto* encoder = dynamic_cast<nn::EncoderModel*>(&model);
  KILN_CHECK(encoder, name(), ": the model is not an encoder (bert, albert, ...)");
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, name());
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  KILN_CHECK(T >= 5, name(), ": a pair [CLS] A [SEP] B [SEP] needs seq_len >= 5, got ", T);
  const Device device = batch.inputs.device();
  Generator& gen = state.generator ? *state.generator : default_generator();
  Rng rng(gen);
  const Pairs pairs = make_pairs(tokens, B, T, rng);

  train::LossOutput out;
  MaskedBatch m;
  if (with_mlm_) {
    m = masker_.apply(pairs.tokens, B, T, gen);
  } else {
    m.rows = B;
    m.cols = T;
    m.inputs = pairs.tokens;
  }
  state.token_types = ids_tensor(std::span<const int64_t>(pairs.types), {B, T}, device);
  const Tensor inputs = ids_tensor(std::span<const int32_t>(m.inputs), {B, T}, device);
  const Tensor hidden = encoder->encode(inputs, state);

  const Tensor pair_logits = encoder->sentence_logits(hidden);  // [B, 2]
  KILN_CHECK(pair_logits.dim() == 2 && pair_logits.size(0) == B && pair_logits.size(1) == 2, name(),
             ": the sentence head returned logits of shape ", pair_logits.shape(), "; expected [",
             B, ", 2]");
  const Tensor labels = ids_tensor(std::span<const int64_t>(pairs.labels), {B}, device);
  const Tensor pair_loss = ops::cross_entropy(pair_logits, labels);
  const std::string task = name();
  out.metrics[task + "_accuracy"] = accuracy(pair_logits, pairs.labels);
  out.metrics[task + "_loss"] = pair_loss.detach().item();
  if (with_mlm_) {
    const Tensor mlm = mlm_loss_from_hidden(*encoder, hidden, m, out.metrics);
    out.metrics["mlm_loss"] = mlm.detach().item();
    out.loss = ops::add(mlm, pair_loss);
    out.tokens = int64_t(m.positions.size());
  } else {
    out.loss = pair_loss;
    out.tokens = B;
  }
  return out;
}

}  // namespace kiln::objectives
