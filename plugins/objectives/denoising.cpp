#include "plugins/objectives/denoising.h"

#include "core/base/error.h"
#include "plugins/objectives/masking.h"
#include "plugins/objectives/seq2seq.h"

namespace kiln::objectives {

void DenoisingObjective::prepare(const train::ObjectiveContext& context) {
  const InfillOptions& f = options_.infill;
  KILN_CHECK(f.ratio >= 0 && f.ratio <= 1, "denoising: mask_ratio must be in [0, 1], got ",
             f.ratio);
  KILN_CHECK(f.lambda > 0, "denoising: poisson_lambda must be > 0, got ", f.lambda);
  mask_ = require_special(context.tokenizer.get(), "denoising", "mask");
  pad_ = require_special(context.tokenizer.get(), "denoising", "pad");
  vocab_ = VocabInfo::from(*context.tokenizer, options_.sentence_ends);
  check_seq2seq(context.model, "denoising");
}

std::vector<int32_t> DenoisingObjective::noise(std::span<const int32_t> row, Rng& rng) const {
  std::vector<int32_t> x(row.begin(), row.end());
  if (options_.permute_sentences > 0)
    x = permute_sentences(x, vocab_.sentence_ends(x), options_.permute_sentences, rng);
  if (options_.infill.ratio > 0) {
    const std::vector<uint8_t> cand = vocab_.candidates(x);
    const std::vector<uint8_t> starts =
        options_.whole_word ? vocab_.word_starts(x) : std::vector<uint8_t>(x.size(), 1);
    const MlmVocab mv{mask_, vocab_.size, vocab_.special};
    x = text_infill(x, cand, starts, options_.infill, mv, rng).tokens;
  }
  if (options_.delete_ratio > 0)
    x = delete_tokens(x, vocab_.candidates(x), options_.delete_ratio, rng);
  if (x.empty()) x.push_back(mask_);  // everything deleted: the encoder still reads something
  // Inserted masks can make the source longer than the row; the model's context holds a row.
  if (x.size() > row.size()) x.resize(row.size());
  return x;
}

train::LossOutput DenoisingObjective::compute(nn::Model& model, const data::Batch& batch,
                                              nn::ForwardState& state) {
  nn::Seq2SeqModel& s2s = as_seq2seq(model, "denoising");
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, "denoising");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  Generator& gen = state.generator ? *state.generator : default_generator();
  Rng rng(gen);
  std::vector<std::vector<int32_t>> sources, targets;
  for (int64_t r = 0; r < B; ++r) {
    const std::span<const int32_t> row(tokens.data() + r * T, size_t(T));
    sources.push_back(noise(row, rng));
    targets.emplace_back(row.begin(), row.end());
  }
  train::LossOutput out;
  seq2seq_loss(s2s, sources, targets, pad_, state, batch.inputs.device(), out);
  return out;
}

}  // namespace kiln::objectives
