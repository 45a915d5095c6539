// The loss that span_corruption (T5) and denoising (BART) share: an encoder-decoder reads the
// corrupted source and is trained, with teacher forcing, to write the target.
//
//   memory  = model.encode(sources)                       sources padded with [PAD], masked
//   logits  = model.forward([start] + target[:-1])        reading the memory (ForwardState)
//   loss    = mean cross-entropy of logits against the target, padding skipped
//
// where start is the model's decoder_start_token() (T5: the pad id; BART: </s>).
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

/// The model as an encoder-decoder, or a message naming the objective.
nn::Seq2SeqModel& as_seq2seq(nn::Model& model, const std::string& objective);
void check_seq2seq(const nn::Model* model, const std::string& objective);

}  // namespace kiln::objectives
