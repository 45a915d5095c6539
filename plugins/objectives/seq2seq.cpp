#include "plugins/objectives/seq2seq.h"

#include <algorithm>

#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"
#include "plugins/objectives/masking.h"
#include "plugins/objectives/mlm.h"

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

void seq2seq_loss(nn::Seq2SeqModel& model, const Tensor& sources, const Tensor& src_padding,
                  const Tensor& decoder_inputs, const Tensor& targets,
                  const nn::ForwardState& state, train::LossOutput& out) {
  const int64_t B = sources.size(0), Tt = targets.size(1);
  // Encoder and decoder each get a state of their own (the trainer's generator and nothing of
  // the batch's positions, which a corruption has moved).
  nn::ForwardState enc;
  enc.generator = state.generator;
  enc.key_padding = src_padding;
  const Tensor memory = model.encode(sources, enc);

  nn::ForwardState decs;
  decs.generator = state.generator;
  decs.memory = memory;
  decs.memory_padding = src_padding;
  const Tensor logits = model.forward(decoder_inputs, decs);
  KILN_CHECK(logits.dim() == 3 && logits.size(0) == B && logits.size(1) == Tt,
             "seq2seq: the decoder returned logits of shape ", logits.shape(), " for targets [", B,
             ", ", Tt, "]; expected [B, T, vocab]");
  out.loss = ops::cross_entropy(logits, targets);
  out.tokens = 0;
  for (int64_t t : targets.to_vector<int64_t>()) out.tokens += t != -100;
}

void Seq2SeqObjective::prepare(const train::ObjectiveContext& context) {
  check_seq2seq(context.model, "seq2seq");
  if (context.tokenizer) pad_ = context.tokenizer->special_id("pad");
}

train::LossOutput Seq2SeqObjective::compute(nn::Model& model, const data::Batch& batch,
                                            nn::ForwardState& state) {
  nn::Seq2SeqModel& s2s = as_seq2seq(model, "seq2seq");
  const std::vector<int32_t> src = batch_tokens(batch.inputs, "seq2seq");
  KILN_CHECK(batch.targets.defined() && batch.targets.dim() == 2 &&
                 batch.targets.size(0) == batch.inputs.size(0),
             "seq2seq: expected targets [B, T] for inputs ", batch.inputs.shape(), ", got ",
             batch.targets.defined() ? str_cat(batch.targets.shape()) : std::string("none"));
  const int64_t B = batch.inputs.size(0), S = batch.inputs.size(1), T = batch.targets.size(1);
  KILN_CHECK(S <= model.context_length() && T <= model.context_length(), "seq2seq: sources of ", S,
             " and targets of ", T, " tokens do not fit the model's context of ",
             model.context_length(), ": lower seq_len");
  const Device device = batch.inputs.device();
  std::vector<int64_t> tgt = batch.targets.to_vector<int64_t>();
  bool any = false;
  for (int64_t t : tgt) any |= t != -100;
  KILN_CHECK(any, "seq2seq: every target of the batch is -100: nothing to predict");

  // Hugging Face's shift_right: [start] + targets[:-1], with -100 read as the pad id.
  const int64_t start = s2s.decoder_start_token();
  const int64_t pad = pad_ ? int64_t(*pad_) : start;
  std::vector<int64_t> dec(tgt.size());
  for (int64_t r = 0; r < B; ++r)
    for (int64_t t = 0; t < T; ++t) {
      const int64_t prev = t == 0 ? start : tgt[size_t(r * T + t - 1)];
      dec[size_t(r * T + t)] = prev == -100 ? pad : prev;
    }

  nn::ForwardState st;
  st.generator = state.generator;
  set_key_padding(st, src, B, S, pad_, device);
  train::LossOutput out;
  seq2seq_loss(s2s, ids_tensor(std::span<const int32_t>(src), {B, S}, device), st.key_padding,
               ids_tensor(std::span<const int64_t>(dec), {B, T}, device),
               ids_tensor(std::span<const int64_t>(tgt), {B, T}, device), state, out);
  out.metrics["source_length"] = double(S);
  out.metrics["target_length"] = double(T);
  return out;
}

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

  const int32_t start = int32_t(model.decoder_start_token());
  // Teacher forcing: the decoder reads the target shifted right behind the start token.
  std::vector<std::vector<int32_t>> dec_in(static_cast<size_t>(B));
  for (size_t r = 0; r < targets.size(); ++r) {
    dec_in[r].push_back(start);
    dec_in[r].insert(dec_in[r].end(), targets[r].begin(),
                     targets[r].end() - (targets[r].empty() ? 0 : 1));
  }
  const std::vector<int64_t> dec = pad_rows(dec_in, Tt, pad, nullptr);
  const std::vector<int64_t> tgt = pad_rows(targets, Tt, -100, nullptr);
  seq2seq_loss(model, ids_tensor(std::span<const int64_t>(src), {B, S}, device), src_padding,
               ids_tensor(std::span<const int64_t>(dec), {B, Tt}, device),
               ids_tensor(std::span<const int64_t>(tgt), {B, Tt}, device), state, out);
  out.metrics["source_length"] = double(S);
  out.metrics["target_length"] = double(Tt);
}

}  // namespace kiln::objectives
