#include "plugins/objectives/masking.h"

#include "core/autograd/autograd.h"
#include "core/base/error.h"
#include "core/ops/ops.h"
#include "core/tensor/factory.h"

namespace kiln::objectives {

void Masker::prepare(const train::ObjectiveContext& context, const std::string& objective) {
  KILN_CHECK(options_.rate > 0 && options_.rate <= 1, objective,
             ": the selection rate must be in (0, 1], got ", options_.rate);
  KILN_CHECK(options_.mask >= 0 && options_.random >= 0 && options_.mask + options_.random <= 1,
             objective, ": mask (", options_.mask, ") and random (", options_.random,
             ") must be >= 0 and sum to at most 1");
  mask_id_ = require_special(context.tokenizer.get(), objective, "mask");
  vocab_ = VocabInfo::from(*context.tokenizer);
  seed_ = context.seed;
  bool ordinary = false;
  for (uint8_t s : vocab_.special) ordinary |= !s;
  KILN_CHECK(ordinary, objective, ": every token of the vocabulary is special");
}

MaskedBatch Masker::apply(std::span<const int32_t> tokens, int64_t rows, int64_t cols,
                          Generator& gen) const {
  KILN_CHECK(int64_t(tokens.size()) == rows * cols, "mlm: ", tokens.size(), " tokens for ", rows,
             " x ", cols);
  MaskedBatch m;
  m.rows = rows;
  m.cols = cols;
  m.inputs.assign(tokens.begin(), tokens.end());
  m.labels.assign(tokens.size(), -100);
  const MlmVocab mv{mask_id_, vocab_.size, vocab_.special};
  std::optional<Rng> shared;
  if (!fixed_) shared.emplace(gen);
  for (int64_t r = 0; r < rows; ++r) {
    const std::span<const int32_t> row = tokens.subspan(size_t(r * cols), size_t(cols));
    std::optional<Rng> own;
    if (fixed_) own.emplace(example_key(seed_, row));
    Rng& rng = fixed_ ? *own : *shared;
    const std::vector<uint8_t> cand = vocab_.candidates(row);
    const std::vector<uint8_t> starts =
        options_.whole_word ? vocab_.word_starts(row) : std::vector<uint8_t>();
    MlmResult res = mask_tokens(row, cand, starts, options_, mv, rng);
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      m.inputs[i] = res.inputs[size_t(c)];
      m.labels[i] = res.labels[size_t(c)];
      ++m.actions[size_t(res.actions[size_t(c)])];
      if (res.labels[size_t(c)] != -100) m.positions.push_back(int64_t(i));
    }
  }
  if (m.positions.empty()) {
    // Nothing selected (tiny batches): take the first ordinary token, so the loss is defined.
    for (size_t i = 0; i < tokens.size(); ++i)
      if (!vocab_.is_special(tokens[i])) {
        m.labels[i] = tokens[i];
        m.inputs[i] = mask_id_;
        m.positions.push_back(int64_t(i));
        ++m.actions[size_t(MlmAction::mask)];
        break;
      }
    KILN_CHECK(!m.positions.empty(), "mlm: the batch holds only special tokens: nothing to mask");
  }
  return m;
}

std::vector<int32_t> batch_tokens(const Tensor& inputs, const std::string& who) {
  KILN_CHECK(inputs.defined() && inputs.dim() == 2, who, ": expected inputs of shape [B, T], got ",
             inputs.defined() ? str_cat(inputs.shape()) : std::string("none"));
  KILN_CHECK(inputs.dtype() == DType::i64 || inputs.dtype() == DType::i32, who,
             ": expected integer token ids, got ", dtype_name(inputs.dtype()));
  return inputs.to_vector<int32_t>();
}

Tensor ids_tensor(std::span<const int32_t> ids, const Shape& shape, Device device) {
  std::vector<int64_t> v(ids.begin(), ids.end());
  return ids_tensor(std::span<const int64_t>(v), shape, device);
}

Tensor ids_tensor(std::span<const int64_t> ids, const Shape& shape, Device device) {
  Tensor t = from_vector(std::vector<int64_t>(ids.begin(), ids.end()), shape);
  return device == Device::cpu() ? t : t.to(device);
}

double accuracy(const Tensor& logits, std::span<const int64_t> labels) {
  if (labels.empty()) return 0;
  autograd::NoGrad no_grad;
  const std::vector<int64_t> pred = ops::argmax(logits.detach(), -1).to_vector<int64_t>();
  int64_t right = 0;
  for (size_t i = 0; i < labels.size(); ++i) right += pred[i] == labels[i];
  return double(right) / double(labels.size());
}

namespace {

Tensor selected_loss(const Tensor& logits_sel, const MaskedBatch& m,
                     std::map<std::string, double>& metrics) {
  std::vector<int64_t> labels;
  labels.reserve(m.positions.size());
  for (int64_t p : m.positions) labels.push_back(m.labels[size_t(p)]);
  metrics["mlm_accuracy"] = accuracy(logits_sel, labels);
  Tensor target =
      ids_tensor(std::span<const int64_t>(labels), {int64_t(labels.size())}, logits_sel.device());
  return ops::cross_entropy(logits_sel, target);
}

}  // namespace

Tensor mlm_loss_from_hidden(nn::EncoderModel& model, const Tensor& hidden, const MaskedBatch& m,
                            std::map<std::string, double>& metrics) {
  KILN_CHECK(hidden.dim() == 3 && hidden.size(0) == m.rows && hidden.size(1) == m.cols,
             "mlm: the encoder returned hidden states of shape ", hidden.shape(), " for inputs [",
             m.rows, ", ", m.cols, "]; expected [B, T, d_model]");
  Tensor flat = hidden.reshape({m.rows * m.cols, hidden.size(2)});
  Tensor idx = ids_tensor(std::span<const int64_t>(m.positions), {int64_t(m.positions.size())},
                          hidden.device());
  Tensor logits = model.mlm_logits(ops::index_select(flat, 0, idx));  // [N, V]
  return selected_loss(logits, m, metrics);
}

Tensor mlm_loss_from_logits(const Tensor& logits, const MaskedBatch& m,
                            std::map<std::string, double>& metrics) {
  KILN_CHECK(logits.dim() == 3 && logits.size(0) == m.rows && logits.size(1) == m.cols,
             "mlm: the model returned logits of shape ", logits.shape(), " for inputs [", m.rows,
             ", ", m.cols, "]; expected [B, T, vocab]");
  Tensor flat = logits.reshape({m.rows * m.cols, logits.size(2)});
  Tensor idx = ids_tensor(std::span<const int64_t>(m.positions), {int64_t(m.positions.size())},
                          logits.device());
  return selected_loss(ops::index_select(flat, 0, idx), m, metrics);
}

}  // namespace kiln::objectives
