#include "plugins/layers/encoder.h"

#include "core/ops/elementwise.h"
#include "plugins/layers/attention.h"

namespace kiln::layers {

Encoder::Encoder(EncoderParts p)
    : d_model_(p.d_model),
      context_(p.context),
      init_(p.init),
      layer_blocks_(std::move(p.layer_blocks)) {
  KILN_CHECK(p.embeddings, "encoder: embeddings are required");
  KILN_CHECK(d_model_ >= 1 && context_ >= 1, "encoder: d_model and context must be >= 1, got ",
             d_model_, " and ", context_);
  KILN_CHECK(!p.blocks.empty(), "encoder: a model needs at least one block");
  if (layer_blocks_.empty())
    for (size_t i = 0; i < p.blocks.size(); ++i) layer_blocks_.push_back(int64_t(i));
  std::vector<bool> used(p.blocks.size(), false);
  for (int64_t b : layer_blocks_) {
    KILN_CHECK(b >= 0 && b < int64_t(p.blocks.size()), "encoder: a layer runs block ", b,
               " but there are ", p.blocks.size(), " blocks");
    used[size_t(b)] = true;
  }
  for (size_t b = 0; b < used.size(); ++b)
    KILN_CHECK(used[b], "encoder: block ", b, " is run by no layer");
  init_.n_layers = int64_t(layer_blocks_.size());
  InitScope init_scope(init_);

  embeddings = p.embeddings;
  if (p.own_embeddings) register_module("embeddings", embeddings);
  if (embeddings->d_embed() != d_model_)
    embed_proj = register_module("embed_proj",
                                 std::make_shared<Linear>(embeddings->d_embed(), d_model_, true));
  if (embed_proj) embed_proj->init_normal(init_.std, init_.generator);
  if (p.rel_pos) rel_pos = register_module("rel_pos", p.rel_pos);
  blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
  for (auto& b : p.blocks) blocks->push_back(std::move(b));
  if (p.final_norm) ln_final = register_module("ln_final", std::move(p.final_norm));
  if (p.mlm_head) mlm_head = register_module("mlm_head", std::move(p.mlm_head));
  if (p.sentence_head) sentence_head = register_module("sentence_head", std::move(p.sentence_head));
  if (rel_pos) share_positions(*blocks, rel_pos);
}

void Encoder::init_weights() {
  for (const auto& [name, m] : named_modules())
    if (auto* i = dynamic_cast<Initializable*>(const_cast<nn::Module*>(m))) i->init_weights(init_);
  if (embed_proj) embed_proj->init_normal(init_.std, init_.generator);
}

nn::Layer& Encoder::block(int64_t layer) const {
  KILN_CHECK(layer >= 0 && layer < n_layers(), "encoder: layer ", layer, " of ", n_layers());
  return *std::static_pointer_cast<nn::Layer>((*blocks)[size_t(layer_blocks_[size_t(layer)])]);
}

Tensor Encoder::embed(const Tensor& tokens, nn::ForwardState& state) {
  KILN_CHECK(!state.cache, "encoder: a bidirectional encoder has no KV cache");
  KILN_CHECK(tokens.defined() && tokens.dim() == 2, "encoder: expected token ids [B, T], got ",
             tokens.defined() ? shape_str(tokens.shape()) : std::string("an undefined tensor"));
  KILN_CHECK(tokens.size(1) <= context_, "encoder: ", tokens.size(1),
             " tokens exceed the model's context of ", context_, " positions");
  Tensor x = embeddings->forward(tokens, state);
  if (embed_proj) x = embed_proj->forward(x);
  return x;
}

Tensor Encoder::encode(const Tensor& tokens, nn::ForwardState& state) {
  Tensor x = embed(tokens, state);
  for (int64_t i = 0; i < n_layers(); ++i) x = block(i).forward(x, state);
  if (ln_final) x = ln_final->forward(x, state);
  return x;
}

Tensor Encoder::mlm_logits(const Tensor& hidden) {
  KILN_CHECK(mlm_head, "encoder: this model has no MLM head (mlm_head = false in its spec)");
  nn::ForwardState st;
  return mlm_head->forward(hidden, st);
}

Tensor Encoder::sentence_logits(const Tensor& hidden) {
  if (!sentence_head) return nn::EncoderModel::sentence_logits(hidden);
  nn::ForwardState st;
  return sentence_head->forward(hidden, st);
}

int64_t Encoder::sentence_classes() const {
  return sentence_head ? sentence_head->n_classes() : 0;
}

double Encoder::train_flops_per_token(int64_t seq_len) const {
  double n = 0;
  for (int64_t i = 0; i < n_layers(); ++i) n += double(block(i).num_parameters());
  for (const nn::Module* m : std::initializer_list<const nn::Module*>{
           embed_proj.get(), ln_final.get(), mlm_head.get(), sentence_head.get()})
    if (m) n += double(m->num_parameters());
  if (embeddings->ln) n += double(embeddings->ln->num_parameters());
  if (mlm_head && mlm_head->decoder_weight().is_same(embeddings->wte->weight))
    n += double(embeddings->wte->weight.numel());
  double attn = 0;
  for (int64_t i = 0; i < n_layers(); ++i)
    for (const auto& [name, m] : block(i).named_modules())
      if (auto* a = dynamic_cast<const Attention*>(m))
        attn += a->attention_flops_per_token(seq_len);
  return 6.0 * n + attn;
}

}  // namespace kiln::layers
