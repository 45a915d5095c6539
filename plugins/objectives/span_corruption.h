// T5's span corruption objective: each row is corrupted by corrupt/spans.h (noise density
// 0.15, mean span length 3, fresh draws each time a row is seen), the encoder reads the inputs
// with their sentinels and the decoder writes the targets (seq2seq.h). EOS ends both when the
// tokenizer has one and `eos` is on. The tokenizer needs sentinels (sentinels = N): as many as
// a row has spans, round(0.15 T / 3) for rows of T tokens.
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/corrupt/spans.h"

namespace kiln::objectives {

struct SpanCorruptionOptions {
  double noise_density = 0.15;
  double mean_span_length = 3.0;
  bool eos = true;
};

class SpanCorruptionObjective : public train::Objective {
 public:
  explicit SpanCorruptionObjective(SpanCorruptionOptions options) : options_(options) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;

 private:
  SpanCorruptionOptions options_;
  std::vector<int32_t> sentinels_;
  int32_t pad_ = 0;
  std::optional<int32_t> eos_;
};

}  // namespace kiln::objectives
