// The loss that span_corruption (T5) and denoising (BART) share: an encoder-decoder reads the
// corrupted source and is trained, with teacher forcing, to write the target.
//
//   memory  = model.encode(sources)                       sources padded with [PAD], masked
//   logits  = model.forward([start] + target[:-1])        reading the memory (ForwardState)
//   loss    = mean cross-entropy of logits against the target, padding skipped
//
// where start is the model's decoder_start_token() (T5: the pad id; BART: </s>).
//
// The seq2seq objective (Seq2SeqObjective) trains on pairs as the data gives them, corrupted
// or translated beforehand: the encoder reads the batch's inputs (keys masked where they are
// the tokenizer's pad) and the decoder writes its targets (-100: no loss). The decoder's input
// is the targets shifted right behind the start token with -100 read as the pad id (Hugging
// Face's shift_right; without a tokenizer, the start token stands in for the pad).
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/train/objective.h"

namespace kiln::objectives {

/// Rows of different lengths are padded with `pad` (sources) and skipped (targets). Fills
/// `out` (loss, tokens: the target tokens scored).
void seq2seq_loss(nn::Seq2SeqModel& model, const std::vector<std::vector<int32_t>>& sources,
                  const std::vector<std::vector<int32_t>>& targets, int32_t pad,
                  const nn::ForwardState& state, Device device, train::LossOutput& out);

/// Teacher-forced loss of padded tensors: sources i64 [B, S] (src_padding: bool [B, S], true at
/// real tokens, or undefined), decoder inputs and targets i64 [B, T] (-100: no loss).
void seq2seq_loss(nn::Seq2SeqModel& model, const Tensor& sources, const Tensor& src_padding,
                  const Tensor& decoder_inputs, const Tensor& targets,
                  const nn::ForwardState& state, train::LossOutput& out);

/// The objective "seq2seq": the batch's inputs are the source, its targets the target.
class Seq2SeqObjective : public train::Objective {
 public:
  void prepare(const train::ObjectiveContext& context) override;
  train::LossOutput compute(nn::Model& model, const data::Batch& batch,
                            nn::ForwardState& state) override;

 private:
  std::optional<int32_t> pad_;
};

/// The model as an encoder-decoder, or a message naming the objective.
nn::Seq2SeqModel& as_seq2seq(nn::Model& model, const std::string& objective);
void check_seq2seq(const nn::Model* model, const std::string& objective);

}  // namespace kiln::objectives
