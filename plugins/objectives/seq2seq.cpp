#include "plugins/objectives/seq2seq.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "plugins/objectives/masking.h"

namespace kiln::objectives {
namespace {

// Rows padded to the longest with `fill`; `real` (when given) is true at real tokens.
std::vector<int64_t> pad_rows(const std::vector<std::vector<int32_t>>& rows, int64_t width,
                              int64_t fill, std::vector<uint8_t>* real) {
  std::vector<int64_t> out(rows.size() * size_t(width), fill);
  if (real) real->assign(out.size(), 0);
  for (size_t r = 0; r < rows.size(); ++r)
    for (size_t i = 0; i < rows[r].size(); ++i) {
      out[r * size_t(width) + i] = rows[r][i];
      if (real) (*real)[r * size_t(width) + i] = 1;
    }
  return out;
}

int64_t longest(const std::vector<std::vector<int32_t>>& rows) {
  size_t n = 0;
  for (const auto& r : rows) n = std::max(n, r.size());
  return int64_t(n);
}

}  // namespace

nn::Seq2SeqModel& as_seq2seq(nn::Model& model, const std::string& objective) {
  auto* s = dynamic_cast<nn::Seq2SeqModel*>(&model);
  KILN_CHECK(s, objective, ": the model is not an encoder-decoder (t5, bart, ...)");
  return *s;
}

void check_seq2seq(const nn::Model* model, const std::string& objective) {
  if (model)
    KILN_CHECK(dynamic_cast<const nn::Seq2SeqModel*>(model), objective,
               ": the model is not an encoder-decoder (t5, bart, ...): ", objective,
               " trains a decoder to write what the encoder read");
}

void seq2seq_loss(nn::Seq2SeqModel& model, const std::vector<std::vector<int32_t>>& sources,
                  const std::vector<std::vector<int32_t>>& targets, int32_t pad,
                  const nn::ForwardState& state, Device device, train::LossOutput& out) {
  const int64_t B = int64_t(sources.size());
  KILN_CHECK(B > 0 && int64_t(targets.size()) == B, "seq2seq: ", sources.size(), " sources and ",
             targets.size(), " targets");
  const int64_t S = longest(sources), Tt = longest(targets);
  KILN_CHECK(S > 0 && Tt > 0, "seq2seq: an empty batch");
  KILN_CHECK(S <= model.context_length() && Tt <= model.context_length(), "seq2seq: sources of ", S,
             " and targets of ", Tt, " tokens do not fit the model's context of ",
             model.context_length(), ": lower seq_len");

  std::vector<uint8_t> real;
  const std::vector<int64_t> src = pad_rows(sources, S, pad, &real);
  bool padded = false;
  for (uint8_t r : real) padded |= !r;
  Tensor src_padding;
  if (padded) src_padding = from_host_buffer(real.data(), {B, S}, DType::boolean, device);

  // Encoder and decoder each get a state of their own (the trainer's generator and nothing of
  // the batch's positions, which the corruption has moved).
  nn::ForwardState enc;
  enc.generator = state.generator;
  enc.key_padding = src_padding;
  const Tensor memory =
      model.encode(ids_tensor(std::span<const int64_t>(src), {B, S}, device), enc);

  // Teacher forcing: the decoder reads the target shifted right behind the start token.
  std::vector<std::vector<int32_t>> dec_in(static_cast<size_t>(B));
  const int32_t start = int32_t(model.decoder_start_token());
  for (size_t r = 0; r < targets.size(); ++r) {
    dec_in[r].push_back(start);
    dec_in[r].insert(dec_in[r].end(), targets[r].begin(),
                     targets[r].end() - (targets[r].empty() ? 0 : 1));
  }
  const std::vector<int64_t> dec = pad_rows(dec_in, Tt, pad, nullptr);
  const std::vector<int64_t> tgt = pad_rows(targets, Tt, -100, nullptr);
  nn::ForwardState decs;
  decs.generator = state.generator;
  decs.memory = memory;
  decs.memory_padding = src_padding;
  const Tensor logits =
      model.forward(ids_tensor(std::span<const int64_t>(dec), {B, Tt}, device), decs);
  KILN_CHECK(logits.dim() == 3 && logits.size(0) == B && logits.size(1) == Tt,
             "seq2seq: the decoder returned logits of shape ", logits.shape(), " for targets [", B,
             ", ", Tt, "]; expected [B, T, vocab]");
  out.loss = ops::cross_entropy(logits, ids_tensor(std::span<const int64_t>(tgt), {B, Tt}, device));
  out.tokens = 0;
  for (int64_t t : tgt) out.tokens += t != -100;
  out.metrics["source_length"] = double(S);
  out.metrics["target_length"] = double(Tt);
}

}  // namespace kiln::objectives
