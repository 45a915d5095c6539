#include "core/nn/model.h"

namespace kiln::nn {

KVCache Model::make_cache(int64_t, int64_t) const {
  KILN_FAIL("this model has no KV cache: it cannot generate incrementally");
}

Tensor EncoderModel::sentence_logits(const Tensor&) {
  KILN_FAIL("this encoder has no sentence-level head (NSP/SOP): give its spec sentence_head = 2");
}

Tensor EncoderModel::forward(const Tensor& tokens, ForwardState& state) {
  return mlm_logits(encode(tokens, state));
}

}  // namespace kiln::nn
