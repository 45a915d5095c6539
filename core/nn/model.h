// Models: the "model" component kind, a whole network from token ids to logits.
#pragma once

#include "core/nn/layer.h"

namespace kiln::nn {

class Model : public Module {
 public:
  /// Logits [B, T, V] for token ids [B, T] (i64).
  virtual Tensor forward(const Tensor& tokens, ForwardState& state) = 0;
  virtual int64_t vocab_size() const = 0;
  /// The most positions one forward (or a KV cache) may hold.
  virtual int64_t context_length() const = 0;
  /// An empty KV cache for `batch` sequences of up to `capacity` positions (models that can
  /// generate override this; the default throws).
  virtual KVCache make_cache(int64_t batch, int64_t capacity) const;
  /// FLOPs of forward + backward per token at sequence length T (for MFU): 6 per parameter
  /// multiply-add of the matmuls plus the attention scores, as in the PaLM appendix.
  virtual double train_flops_per_token(int64_t seq_len) const = 0;
};

}  // namespace kiln::nn
