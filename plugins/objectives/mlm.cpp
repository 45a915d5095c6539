#include "plugins/objectives/mlm.h"

#include "core/base/error.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {

void set_key_padding(nn::ForwardState& state, std::span<const int32_t> tokens, int64_t rows,
                     int64_t cols, std::optional<int32_t> pad, Device device) {
  if (!pad) return;
  std::vector<uint8_t> real(tokens.size());
  bool any = false;
  for (size_t i = 0; i < tokens.size(); ++i) {
    real[i] = tokens[i] != *pad;
    any |= !real[i];
  }
  if (!any) return;
  Tensor t = from_host_buffer(real.data(), {rows, cols}, DType::boolean);
  state.key_padding = device == Device::cpu() ? t : t.to(device);
}

void MaskedLM::prepare(const train::ObjectiveContext& context) {
  if (given_) {  // no masking to do: no mask token needed, and the data may have no tokenizer
    if (context.tokenizer) pad_ = context.tokenizer->special_id("pad");
    return;
  }
  masker_.prepare(context, "mlm");
  pad_ = context.tokenizer->special_id("pad");
}

MaskedBatch MaskedLM::given_masking(const data::Batch& batch,
                                    const std::vector<int32_t>& tokens) const {
  KILN_CHECK(
      batch.targets.defined() && batch.targets.shape() == batch.inputs.shape(),
      "mlm: masking = \"given\" reads the labels from the batch's targets, which must be [B, "
      "T] as the inputs ",
      batch.inputs.shape(), ", got ",
      batch.targets.defined() ? str_cat(batch.targets.shape()) : std::string("none"));
  MaskedBatch m;
  m.rows = batch.inputs.size(0);
  m.cols = batch.inputs.size(1);
  m.inputs = tokens;
  m.labels = batch.targets.to_vector<int64_t>();
  for (size_t i = 0; i < m.labels.size(); ++i)
    if (m.labels[i] != -100) m.positions.push_back(int64_t(i));
  KILN_CHECK(!m.positions.empty(),
             "mlm: masking = \"given\" but every target of the batch is -100: no token to predict");
  return m;
}

train::LossOutput MaskedLM::compute(nn::Model& model, const data::Batch& batch,
                                    nn::ForwardState& state) {
  const std::vector<int32_t> tokens = batch_tokens(batch.inputs, "mlm");
  const int64_t B = batch.inputs.size(0), T = batch.inputs.size(1);
  const Device device = batch.inputs.device();
  Generator& gen = state.generator ? *state.generator : default_generator();
  const MaskedBatch m = given_ ? given_masking(batch, tokens) : masker_.apply(tokens, B, T, gen);
  if (batch.positions.defined()) state.positions = batch.positions;
  if (batch.segment_ids.defined()) state.segment_ids = batch.segment_ids;
  set_key_padding(state, tokens, B, T, pad_, device);
  const Tensor inputs = ids_tensor(std::span<const int32_t>(m.inputs), {B, T}, device);

  train::LossOutput out;
  if (auto* encoder = dynamic_cast<nn::EncoderModel*>(&model))
    out.loss = mlm_loss_from_hidden(*encoder, encoder->encode(inputs, state), m, out.metrics);
  else
    out.loss = mlm_loss_from_logits(model.forward(inputs, state), m, out.metrics);
  out.tokens = int64_t(m.positions.size());
  return out;
}

}  // namespace kiln::objectives
