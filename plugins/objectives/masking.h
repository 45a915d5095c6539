// MLM masking of a batch, shared by the mlm, nsp/sop and rtd objectives: corrupt/mlm.h over
// each row, with the draws either fresh each time a row is seen (dynamic, RoBERTa: from the
// run's generator, so they replay after a resume) or fixed by the row's identity (static,
// BERT: keyed by the run's seed and the row's tokens, so the same text is always masked the
// same way), and the helpers that turn the result into tensors and the MLM loss.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/nn/model.h"
#include "core/tensor/tensor.h"
#include "core/train/objective.h"
#include "plugins/objectives/corrupt/mlm.h"
#include "plugins/objectives/vocab_info.h"

namespace kiln::objectives {

struct MaskedBatch {
  int64_t rows = 0, cols = 0;
  std::vector<int32_t> inputs;       ///< [rows * cols], corrupted
  std::vector<int64_t> labels;       ///< [rows * cols], -100 where not selected
  std::vector<int64_t> positions;    ///< flat indices of the selected tokens, ascending
  std::array<int64_t, 4> actions{};  ///< counts by MlmAction
};

class Masker {
 public:
  Masker(MlmOptions options, bool fixed) : options_(options), fixed_(fixed) {}
  /// Finds the mask token and the special ids; throws naming `objective` when there is none.
  void prepare(const train::ObjectiveContext& context, const std::string& objective);
  /// Masks `rows` rows of `cols` tokens. Dynamic masking draws from `gen`.
  MaskedBatch apply(std::span<const int32_t> tokens, int64_t rows, int64_t cols,
                    Generator& gen) const;

  const VocabInfo& vocab() const { return vocab_; }
  int32_t mask_id() const { return mask_id_; }
  const MlmOptions& options() const { return options_; }
  bool fixed() const { return fixed_; }

 private:
  MlmOptions options_;
  bool fixed_;
  uint64_t seed_ = 0;
  int32_t mask_id_ = 0;
  VocabInfo vocab_;
};

/// Token ids of a batch as a host vector (checks [B, T] and an integer dtype, naming `who`).
std::vector<int32_t> batch_tokens(const Tensor& inputs, const std::string& who);
/// i64 tensor of `shape` on `device`.
Tensor ids_tensor(std::span<const int32_t> ids, const Shape& shape, Device device);
Tensor ids_tensor(std::span<const int64_t> ids, const Shape& shape, Device device);

/// The MLM loss of an encoder's hidden states [B, T, d] at the selected positions, through the
/// model's MLM head (only those rows go through it). Adds "mlm_accuracy" to `metrics`.
Tensor mlm_loss_from_hidden(nn::EncoderModel& model, const Tensor& hidden, const MaskedBatch& m,
                            std::map<std::string, double>& metrics);
/// The same from full logits [B, T, V] (models that are not encoders).
Tensor mlm_loss_from_logits(const Tensor& logits, const MaskedBatch& m,
                            std::map<std::string, double>& metrics);

/// The fraction of rows of `logits` [N, C] whose argmax is `labels` [N].
double accuracy(const Tensor& logits, std::span<const int64_t> labels);

}  // namespace kiln::objectives
