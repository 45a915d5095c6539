#include "plugins/layers/embeddings.h"

#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/reduce.h"

namespace kiln::layers {

Embeddings::Embeddings(std::shared_ptr<TokenEmbedding> wte_, bool own_wte,
                       std::shared_ptr<Positions> pos, int64_t n_types,
                       std::shared_ptr<nn::Layer> norm, double dropout, double scale)
    : wte(std::move(wte_)), dropout_(dropout), scale_(scale) {
  KILN_CHECK(wte, "embeddings: a token embedding is required");
  KILN_CHECK(!pos || pos->is_absolute(),
             "embeddings: only absolute positions are added to the embeddings (relative schemes "
             "act inside attention)");
  KILN_CHECK(n_types >= 0, "embeddings: n_types must be >= 0, got ", n_types);
  KILN_CHECK(dropout >= 0 && dropout < 1, "embeddings: dropout must be in [0, 1), got ", dropout);
  hook_embed_ = &register_hook("hook_embed");
  hook_pos_embed_ = &register_hook("hook_pos_embed");
  hook_type_embed_ = &register_hook("hook_type_embed");
  if (own_wte) register_module("wte", wte);
  if (pos) wpe = register_module("wpe", std::move(pos));
  if (n_types > 0)
    token_type =
        register_module("token_type", std::make_shared<TokenEmbedding>(n_types, d_embed()));
  if (norm) ln = register_module("ln", std::move(norm));
}

Tensor Embeddings::forward(const Tensor& ids, nn::ForwardState& state) {
  KILN_CHECK(
      ids.defined() && ids.dim() == 2 && (ids.dtype() == DType::i64 || ids.dtype() == DType::i32),
      "embeddings: expected token ids i64 [B, T], got ",
      ids.defined() ? dtype_name(ids.dtype()) + std::string(" ") + shape_str(ids.shape())
                    : std::string("an undefined tensor"));
  const int64_t B = ids.size(0), T = ids.size(1);
  Tensor x = wte->forward(ids, state);
  if (scale_ != 1.0) x = ops::mul(x, scale_);
  x = (*hook_embed_)(x);
  if (wpe) {
    PositionInfo where;
    where.positions = state.positions;
    where.offset = state.cache ? state.cache->length : 0;
    where.T = T;
    x = ops::add(x, (*hook_pos_embed_)(wpe->embed(where)));
  }
  if (state.token_types.defined()) {
    const Tensor& tt = state.token_types;
    KILN_CHECK(token_type,
               "embeddings: state.token_types is set but this model has no token "
               "type embeddings (n_types = 0)");
    KILN_CHECK(tt.dim() == 2 && tt.size(0) == B && tt.size(1) == T &&
                   (tt.dtype() == DType::i64 || tt.dtype() == DType::i32),
               "embeddings: token_types must be i64 [B, T] = [", B, ", ", T, "], got ",
               dtype_name(tt.dtype()), " ", tt.shape());
    if (tt.numel() > 0) {
      const double lo = ops::min(tt).item(), hi = ops::max(tt).item();
      KILN_CHECK(lo >= 0 && hi < double(n_types()), "embeddings: token types must be in [0, ",
                 n_types(), "), got values from ", lo, " to ", hi);
    }
    x = ops::add(x, (*hook_type_embed_)(token_type->forward(tt, state)));
  } else if (token_type) {
    // Every token is of type 0: one row, broadcast.
    x = ops::add(x, (*hook_type_embed_)(token_type->weight.narrow(0, 0, 1)));
  }
  if (ln) x = ln->forward(x, state);
  if (is_training() && dropout_ > 0) x = ops::dropout(x, dropout_, true, state.generator);
  return x;
}

}  // namespace kiln::layers
