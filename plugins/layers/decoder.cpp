#include "plugins/layers/decoder.h"

#include "core/ops/dropout.h"
#include "core/ops/elementwise.h"
#include "core/ops/linalg.h"
#include "plugins/layers/attention.h"

namespace kiln::layers {

Decoder::Decoder(const DecoderConfig& config, std::shared_ptr<Positions> pos,
                 std::vector<std::shared_ptr<nn::Layer>> blocks,
                 std::shared_ptr<nn::Layer> final_norm, std::shared_ptr<nn::Layer> embed_norm_,
                 std::shared_ptr<TokenEmbedding> shared_wte)
    : c_(config) {
  KILN_CHECK(c_.vocab >= 1 && c_.d_model >= 1 && c_.context >= 1,
             "decoder: vocab, d_model and context must be >= 1, got ", c_.vocab, ", ", c_.d_model,
             ", ", c_.context);
  KILN_CHECK(!blocks.empty(), "decoder: a model needs at least one block");
  KILN_CHECK(c_.dropout >= 0 && c_.dropout < 1, "decoder: dropout must be in [0, 1), got ",
             c_.dropout);
  c_.init.n_layers = int64_t(blocks.size());
  InitScope init_scope(c_.init);  // the embedding and head are drawn with the model's scheme
  hook_embed_ = &register_hook("hook_embed");
  hook_pos_embed_ = &register_hook("hook_pos_embed");
  if (shared_wte) {
    KILN_CHECK(shared_wte->vocab() == c_.vocab && shared_wte->weight.size(1) == c_.d_model,
               "decoder: the shared token embedding is ", shared_wte->weight.shape(),
               ", expected [vocab, d_model] = [", c_.vocab, ", ", c_.d_model, "]");
    wte = std::move(shared_wte);
    owns_wte_ = false;
  } else {
    wte = register_module("wte", std::make_shared<TokenEmbedding>(c_.vocab, c_.d_model));
  }
  if (pos && pos->is_absolute()) wpe = register_module("wpe", pos);
  if (pos && !pos->is_absolute() && !pos->named_parameters().empty())
    rel_pos = register_module("rel_pos", pos);
  if (embed_norm_) embed_norm = register_module("embed_norm", std::move(embed_norm_));
  blocks_ = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (auto& b : blocks) blocks_->push_back(std::move(b));
  if (final_norm) ln_final = register_module("ln_final", std::move(final_norm));
  if (!c_.tie_embeddings) {
    lm_head = register_module("lm_head", std::make_shared<Linear>(c_.d_model, c_.vocab, false));
    lm_head->init_normal(c_.init.std, c_.init.generator);
  }

  if (rel_pos) share_positions(*this, rel_pos);
  // Cache slots in the order the attention layers run.
  for (const auto& [name, m] : named_modules())
    if (auto* a = dynamic_cast<Attention*>(const_cast<nn::Module*>(m))) {
      a->set_cache_slot(int64_t(attention_.size()));
      attention_.push_back(a);
    }
}

void Decoder::init_weights() {
  for (const auto& [name, m] : named_modules())
    if (auto* i = dynamic_cast<Initializable*>(const_cast<nn::Module*>(m)))
      i->init_weights(c_.init);
  if (lm_head) lm_head->init_normal(c_.init.std, c_.init.generator);
}

Tensor Decoder::hidden(const Tensor& tokens, nn::ForwardState& state) {
  KILN_CHECK(tokens.defined() && tokens.dim() == 2 &&
                 (tokens.dtype() == DType::i64 || tokens.dtype() == DType::i32),
             "decoder: expected token ids i64 [B, T], got ",
             tokens.defined()
                 ? dtype_name(tokens.dtype()) + std::string(" ") + shape_str(tokens.shape())
                 : std::string("an undefined tensor"));
  const int64_t B = tokens.size(0), T = tokens.size(1);
  const int64_t L = state.cache ? state.cache->length : 0;
  KILN_CHECK(L + T <= c_.context, "decoder: ", T, " tokens",
             L ? str_cat(" after ", L, " cached ones") : "", " exceed the model's context of ",
             c_.context, " positions");
  if (state.positions.defined())
    KILN_CHECK(state.positions.size(-1) == T &&
                   (state.positions.dim() == 1 ||
                    (state.positions.dim() == 2 && state.positions.size(0) == B)),
               "decoder: positions of shape ", state.positions.shape(),
               " do not match tokens [B, T] = [", B, ", ", T, "] (expected [B, T] or [T])");

  Tensor x = wte->forward(tokens, state);
  if (c_.embed_scale != 1.0) x = ops::mul(x, c_.embed_scale);
  x = (*hook_embed_)(x);
  if (wpe) {
    PositionInfo where;
    where.positions = state.positions;
    where.offset = L;
    where.T = T;
    x = ops::add(x, (*hook_pos_embed_)(wpe->embed(where)));
  }
  if (embed_norm) x = embed_norm->forward(x, state);
  if (is_training() && c_.dropout > 0) x = ops::dropout(x, c_.dropout, true, state.generator);
  for (size_t i = 0; i < blocks_->size(); ++i)
    x = std::static_pointer_cast<nn::Layer>((*blocks_)[i])->forward(x, state);
  if (ln_final) x = ln_final->forward(x, state);
  if (state.cache) state.cache->length += T;
  return x;
}

Tensor Decoder::unembed(const Tensor& h) const {
  Tensor x = c_.logit_scale != 1.0 ? ops::mul(h, c_.logit_scale) : h;
  return ops::linear(x, lm_head ? lm_head->weight : wte->weight);
}

Tensor Decoder::forward(const Tensor& tokens, nn::ForwardState& state) {
  return unembed(hidden(tokens, state));
}

nn::KVCache Decoder::make_cache(int64_t batch, int64_t capacity) const {
  KILN_CHECK(batch >= 1 && capacity >= 1, "decoder: a KV cache needs batch and capacity >= 1, got ",
             batch, " and ", capacity);
  KILN_CHECK(capacity <= c_.context, "decoder: a KV cache of ", capacity,
             " positions exceeds the model's context of ", c_.context);
  nn::KVCache cache;
  cache.capacity = capacity;
  for (const Attention* a : attention_)
    cache.layers.push_back(a->make_cache_entry(batch, capacity, wte->weight.dtype()));
  return cache;
}

double Decoder::train_flops_per_token(int64_t seq_len) const {
  double n = double(num_parameters());
  if (auto* learned = dynamic_cast<const LearnedPositions*>(wpe.get()))
    n -= double(learned->weight.numel());
  if (lm_head && owns_wte_) n -= double(wte->weight.numel());    // looked up, not multiplied
  if (!lm_head && !owns_wte_) n += double(wte->weight.numel());  // the parent's, tied here
  double attn = 0;
  for (const Attention* a : attention_) attn += a->attention_flops_per_token(seq_len);
  return 6.0 * n + attn;
}

}  // namespace kiln::layers
