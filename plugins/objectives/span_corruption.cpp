#include "plugins/objectives/span_corruption.h"

#include "core/base/error.h"
#include "plugins/objectives/masking.h"
#include "plugins/objectives/seq2seq.h"
#include "plugins/objectives/vocab_info.h"

namespace kiln::objectives {

void SpanCorruptionObjective::prepare(const train::ObjectiveContext& context) {
  KILN_CHECK(options_.noise_density > 0 && options_.noise_density < 1,
             "span_corruption: noise_density must be in (0, 1), got ", options_.noise_density);
  KILN_CHECK(options_.mean_span_length >= 1, "span_corruption: mean_span_length must be >= 1, got ",
             options_.mean_span_length);
  pad_ = require_special(context.tokenizer.get(), "span_corruption", "pad");
  sentinels_ = sentinel_ids(*context.tokenizer);
  KILN_CHECK(!sentinels_.empty(),
             "span_corruption: the tokenizer has no sentinels <extra_id_0>, <extra_id_1>, ...: "
             "give it sentinels = 100 (T5's number)");
  if (options_.eos) eos_ = context.tokenizer->special_id("eos");
  check_seq2seq(context.model, "span_corruption");
}

train::LossOutput SpanCorruptionObjective::compute(nn::Model& model, const data::Batch& batch,
                                                   nn::ForwardState& state) {
  nn::Seq2SeqModel& s2s = as_seq2seq(model, "span_corruption");
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, "span_corruption");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  KILN_CHECK(T >= 2, "span_corruption: rows need at least 2 tokens, got ", T);
  const SpanCounts counts = span_counts(T, options_.noise_density, options_.mean_span_length);
  KILN_CHECK(counts.spans <= int64_t(sentinels_.size()), "span_corruption: rows of ", T,
             " tokens have ", counts.spans, " noise spans but the tokenizer has only ",
             sentinels_.size(), " sentinels: give it sentinels = ", counts.spans, " or more");
  Generator& gen = state.generator ? *state.generator : default_generator();
  Rng rng(gen);
  std::vector<std::vector<int32_t>> sources, targets;
  for (int64_t r = 0; r < B; ++r) {
    const std::span<const int32_t> row(tokens.data() + r * T, size_t(T));
    const std::vector<uint8_t> noise =
        random_spans_noise_mask(T, options_.noise_density, options_.mean_span_length, rng);
    SpanCorruption c = corrupt_spans(row, noise, sentinels_, eos_);
    sources.push_back(std::move(c.inputs));
    targets.push_back(std::move(c.targets));
  }
  train::LossOutput out;
  seq2seq_loss(s2s, sources, targets, pad_, state, batch.inputs.device(), out);
  return out;
}

}  // namespace kiln::objectives
