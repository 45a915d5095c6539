// Next-sentence prediction (BERT, "nsp") and sentence-order prediction (ALBERT, "sop"), each
// trained with MLM as BERT and ALBERT are: every row of the batch becomes a pair
// [CLS] A [SEP] B [SEP] (corrupt/pairs.h: balanced labels, token types 0/1), the pair is
// masked for MLM (masking.h; [CLS] and [SEP] never), the encoder runs once, and
//
//   loss = mlm loss + pair loss
//
// where the pair loss is the cross-entropy of the model's sentence head (EncoderModel::
// sentence_logits, two classes) against the labels. Reported: mlm_loss, <task>_loss,
// mlm_accuracy and <task>_accuracy. With mlm = false the MLM half is left out.
//
// NSP's random second segments come from another row of the batch (a different window of the
// corpus; with one row, from elsewhere in the same row).
#pragma once

#include "core/train/objective.h"
#include "plugins/objectives/corrupt/pairs.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {

class SentencePairObjective : public train::Objective {
 public:
  SentencePairObjective(PairTask task, MlmOptions mlm, bool fixed, bool with_mlm)
      : task_(task), masker_(mlm, fixed), with_mlm_(with_mlm) {}
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;
  bool loss_is_nll() const override { return false; }  // MLM plus the sentence classifier's loss

  /// The pairs of a batch of rows (exposed for tests): tokens and types [rows * cols], labels.
  struct Pairs {
    std::vector<int32_t> tokens;
    std::vector<int64_t> types, labels;
  };
  Pairs make_pairs(std::span<const int32_t> rows, int64_t n_rows, int64_t cols, Rng& rng) const;

 private:
  const char* name() const { return task_ == PairTask::nsp ? "nsp" : "sop"; }
  PairTask task_;
  Masker masker_;
  bool with_mlm_;
  int32_t cls_ = 0, sep_ = 0;
};

}  // namespace kiln::objectives
