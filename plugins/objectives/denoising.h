// BART's denoising objective: each row is noised by corrupt/denoise.h — sentence permutation,
// then text infilling (30% of words in Poisson(3) spans, each span one mask token, zero-length
// spans inserting one), then token deletion (off by default) — with fresh draws each time a
// row is seen, and the encoder-decoder is trained to write the original row (seq2seq.h). A
// source that insertions made longer than the row is cut to the row's length.
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/corrupt/denoise.h"
#include "plugins/objectives/vocab_info.h"

namespace kiln::objectives {

struct DenoisingOptions {
  InfillOptions infill;            ///< ratio 0 turns infilling off
  bool whole_word = true;          ///< spans count words (fairseq's mask_whole_words), not tokens
  double permute_sentences = 1.0;  ///< fraction of sentences shuffled; 0 turns it off
  double delete_ratio = 0.0;       ///< probability that a token is deleted
  std::string sentence_ends = ".!?";
};

class DenoisingObjective : public train::Objective {
 public:
  explicit DenoisingObjective(DenoisingOptions options) : options_(std::move(options)) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  /// The noised version of one row (exposed for tests).
  std::vector<int32_t> noise(std::span<const int32_t> row, Rng& rng) const;

 private:
  DenoisingOptions options_;
  VocabInfo vocab_;
  int32_t mask_ = 0, pad_ = 0;
};

}  // namespace kiln::objectives
