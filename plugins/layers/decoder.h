// The decoder-only language model (GPT-2, LLaMA and their relatives): token embedding, an
// absolute position embedding when the scheme has one, a stack of blocks (which may differ
// from layer to layer), a final norm and the LM head, tied to the token embedding or not.
// It is also the decoder of an encoder-decoder (BART, T5): blocks with cross-attention, the
// token embedding shared with the encoder (owned by the parent), a norm of the embeddings
// (BART's layernorm_embedding), scaled embeddings and scaled logits (T5 multiplies the final
// states by d_model^-0.5 before its tied head).
//
// Parameter names (Hugging Face's GPT-2 where natural; the tree is fixed by the hook names):
//   wte.weight [vocab, d_model]                token embedding
//   wpe.weight [context, d_model]              learned positions (pos = learned{})
//   rel_pos.weight [buckets, n_heads]          T5's relative bias, shared by every layer
//   embed_norm.weight / .bias                  the norm of the embeddings, when there is one
//   blocks.{i}.ln1.weight / .bias              the norm before attention (pre-norm)
//   blocks.{i}.attn.c_attn.weight / .bias      q, k, v projections (see attention.h)
//   blocks.{i}.attn.c_proj.weight / .bias      attention output projection
//   blocks.{i}.ln2.weight / .bias              the norm before the MLP
//   blocks.{i}.mlp.c_fc / c_proj               plain MLP; gate_proj, up_proj, down_proj gated
//   ln_final.weight / .bias                    final norm (Hugging Face's transformer.ln_f)
//   lm_head.weight [vocab, d_model]            untied head only; tied, the head is wte.weight
// Weights are [out, in] as torch.nn.Linear (the transpose of GPT-2's Conv1D).
//
// Hook points: hook_embed, hook_pos_embed, blocks.{i}.* (block.h, attention.h, mlp.h, norm.h),
// ln_final.hook_normalized.
#pragma once

#include <memory>
#include <vector>

#include "core/nn/model.h"
#include "plugins/layers/block.h"
#include "plugins/layers/common.h"
#include "plugins/layers/norm.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {

class Attention;

struct DecoderConfig {
  int64_t vocab = 0;
  int64_t d_model = 0;
  int64_t context = 1024;
  bool tie_embeddings = true;
  double dropout = 0.0;      ///< on the embeddings
  double embed_scale = 1.0;  ///< the token embeddings are multiplied by this (sqrt(d): BART-large)
  double logit_scale = 1.0;  ///< the final states are multiplied by this before the head (T5)
  InitOptions init;
};

class Decoder : public nn::Model {
 public:
  /// pos: the position scheme (absolute ones become child "wpe"; relative ones with
  /// parameters, T5's bias, become child "rel_pos" and are given to every self-attention layer
  /// that has no scheme of its own; other relative ones were given to the attention layers);
  /// final_norm and embed_norm may be null. shared_wte: a token embedding owned by the parent
  /// (an encoder-decoder's), used here but not registered; null makes the decoder's own "wte".
  Decoder(const DecoderConfig& config, std::shared_ptr<Positions> pos,
          std::vector<std::shared_ptr<nn::Layer>> blocks, std::shared_ptr<nn::Layer> final_norm,
          std::shared_ptr<nn::Layer> embed_norm = nullptr,
          std::shared_ptr<TokenEmbedding> shared_wte = nullptr);

  /// Logits [B, T, vocab] for token ids i64 [B, T]. With state.cache, the tokens continue the
  /// cached ones and the cache's length advances by T.
  Tensor forward(const Tensor& tokens, nn::ForwardState& state) override;
  /// The residual stream after the final norm, [B, T, d_model] (what the head reads).
  Tensor hidden(const Tensor& tokens, nn::ForwardState& state);
  /// Logits of a final-normed residual [..., d_model].
  Tensor unembed(const Tensor& h) const;

  int64_t vocab_size() const override { return c_.vocab; }
  int64_t context_length() const override { return c_.context; }
  nn::KVCache make_cache(int64_t batch, int64_t capacity) const override;
  /// PaLM's convention (Chowdhery et al. 2022, appendix B): 6 N + 12 L H Q T, where N counts
  /// the parameters that take part in matmuls (every parameter except the position table and,
  /// untied, the input embedding table, which are looked up; norms and biases are included as
  /// nanoGPT does) and 12 H Q T per attention layer (H query heads of Q dims) is the score
  /// and weighted-sum work, counted for the full T x T square as PaLM does.
  double train_flops_per_token(int64_t seq_len) const override;
  /// Draws every parameter of this plugin's layers again with the model's scheme. (Layers made
  /// by the decoder's factory were drawn with it already; blocks made by hand under no
  /// InitScope have the default scheme for one layer until this is called.)
  void init_weights();

  const DecoderConfig& config() const { return c_; }
  size_t n_layers() const { return blocks_->size(); }
  /// The attention layers of this plugin, in cache-slot order.
  const std::vector<Attention*>& attention_layers() const { return attention_; }

  std::shared_ptr<TokenEmbedding> wte;
  std::shared_ptr<Positions> wpe;         // absolute positions only
  std::shared_ptr<Positions> rel_pos;     // a trained relative scheme shared by the layers
  std::shared_ptr<nn::Layer> embed_norm;  // may be null
  std::shared_ptr<nn::Layer> ln_final;    // may be null
  std::shared_ptr<Linear> lm_head;        // untied only

 private:
  DecoderConfig c_;
  bool owns_wte_ = true;
  std::shared_ptr<nn::ModuleList> blocks_;
  std::vector<Attention*> attention_;
  nn::HookPoint *hook_embed_, *hook_pos_embed_;
};

}  // namespace kiln::layers
