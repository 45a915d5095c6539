// The encoder-only model (BERT, RoBERTa, ALBERT, ELECTRA's two halves) and the encoder of an
// encoder-decoder: input embeddings (embeddings.h), a projection from the embedding width to
// d_model when they differ (ALBERT's factorised embedding), a stack of bidirectional blocks
// (post-norm as BERT, or pre-norm with a final norm), and optional heads: the MLM head and a
// sentence-level head (NSP, SOP).
//
// Cross-layer sharing (ALBERT): the stack holds G distinct blocks and layer i of L runs block
// layer_blocks[i] (ALBERT: block i * G / L; G = 1 shares one block across all layers). A
// shared block is one module, so its parameters are stored, counted and checkpointed once, and
// their gradient is the sum over the layers that use them. Its hook points fire once for each
// of those layers.
//
// Parameter names:
//   embeddings.*                     see embeddings.h (absent when the parent owns them)
//   embed_proj.weight [H, E], .bias  when d_embed != d_model (ALBERT's
//                                    embedding_hidden_mapping_in, ELECTRA's embeddings_project)
//   rel_pos.weight [buckets, heads]  T5's relative bias, shared by every layer
//   blocks.{g}.*                     the G distinct blocks (block.h)
//   ln_final.weight / .bias          pre-norm stacks
//   mlm_head.*, sentence_head.*      heads.h
#pragma once

#include <memory>
#include <vector>

#include "core/nn/model.h"
#include "plugins/layers/common.h"
#include "plugins/layers/embeddings.h"
#include "plugins/layers/heads.h"

namespace kiln::layers {

class Attention;

struct EncoderParts {
  int64_t d_model = 0;
  int64_t context = 512;
  InitOptions init;
  std::shared_ptr<Embeddings> embeddings;
  bool own_embeddings = true;          ///< false: the parent registers them (ELECTRA shares them)
  std::shared_ptr<Positions> rel_pos;  ///< a trained relative scheme shared by the layers
  std::vector<std::shared_ptr<nn::Layer>> blocks;  ///< the G distinct blocks
  std::vector<int64_t> layer_blocks;      ///< the block each layer runs (empty: one layer a block)
  std::shared_ptr<nn::Layer> final_norm;  ///< may be null
  std::shared_ptr<MLMHead> mlm_head;      ///< may be null
  std::shared_ptr<SequenceHead> sentence_head;  ///< may be null
};

class Encoder : public nn::EncoderModel {
 public:
  explicit Encoder(EncoderParts parts);

  /// Hidden states [B, T, d_model] of token ids [B, T]; state.key_padding hides [PAD] keys,
  /// state.token_types gives sentence A/B.
  Tensor encode(const Tensor& tokens, nn::ForwardState& state) override;
  /// The embeddings projected to d_model: the input of the first block, [B, T, d_model].
  Tensor embed(const Tensor& tokens, nn::ForwardState& state);
  Tensor mlm_logits(const Tensor& hidden) override;
  Tensor sentence_logits(const Tensor& hidden) override;
  int64_t sentence_classes() const override;
  int64_t d_model() const override { return d_model_; }
  int64_t vocab_size() const override { return embeddings->vocab(); }
  int64_t context_length() const override { return context_; }
  /// 6 N + 12 L H Q T with N the parameters that take part in matmuls, counted once per layer
  /// that uses them (a shared block counts L / G times), and the tied MLM decoder's matrix.
  double train_flops_per_token(int64_t seq_len) const override;
  /// Draws every parameter of this plugin's layers again with the model's scheme.
  void init_weights();

  int64_t n_layers() const { return int64_t(layer_blocks_.size()); }
  const std::vector<int64_t>& layer_blocks() const { return layer_blocks_; }
  nn::Layer& block(int64_t layer) const;

  std::shared_ptr<Embeddings> embeddings;
  std::shared_ptr<Linear> embed_proj;  // d_embed != d_model only
  std::shared_ptr<Positions> rel_pos;  // may be null
  std::shared_ptr<nn::ModuleList> blocks;
  std::shared_ptr<nn::Layer> ln_final;          // may be null
  std::shared_ptr<MLMHead> mlm_head;            // may be null
  std::shared_ptr<SequenceHead> sentence_head;  // may be null

 private:
  int64_t d_model_, context_;
  InitOptions init_;
  std::vector<int64_t> layer_blocks_;
};

}  // namespace kiln::layers
