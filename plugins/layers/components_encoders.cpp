// The components of the layers plugin for encoders, encoder-decoders and biLMs: t5_bias, lstm,
// the heads, and model.{encoder, electra, encoder_decoder, bilm}. Their stacks are built from
// the same blocks as the decoder's, made bidirectional (encoders) or given cross-attention
// (encoder-decoders' decoders).
#include <cmath>

#include "plugins/layers/attention.h"
#include "plugins/layers/bilm.h"
#include "plugins/layers/block.h"
#include "plugins/layers/common.h"
#include "plugins/layers/component_util.h"
#include "plugins/layers/components.h"
#include "plugins/layers/decoder.h"
#include "plugins/layers/electra.h"
#include "plugins/layers/embeddings.h"
#include "plugins/layers/encoder.h"
#include "plugins/layers/encoder_decoder.h"
#include "plugins/layers/heads.h"
#include "plugins/layers/lstm.h"

namespace kiln::layers {
namespace {

using nn::Layer;

std::string activation_list() {
  std::string all;
  for (const auto& n : activation_names()) all += (all.empty() ? "\"" : ", \"") + n + "\"";
  return all;
}

Activation named_activation(const Config& c, const std::string& key, const std::string& fallback) {
  const Config* a = c.find(key);
  if (!a || a->is_null()) return parse_activation(fallback);
  if (a->type() != Config::Type::string)
    a->fail("expected an activation name (" + activation_list() + "), got " + a->type_name());
  try {
    return parse_activation(a->as_string());
  } catch (const Error& e) {
    a->fail(e.what());
  }
}

// ---- layers ---------------------------------------------------------------------------------

void register_layers(Registry& r) {
  Schema t5(
      "T5's relative position bias (Raffel et al. 2020): a learned score bias per head and "
      "bucket of the key - query distance, one table shared by every layer of a stack");
  t5.integer("num_buckets", 32, "buckets of distances (half per direction when bidirectional)")
      .min(2);
  t5.integer("max_distance", 128, "distances beyond this share the last bucket").min(2);
  t5.optional("bidirectional", ParamType::boolean(),
              from_parent("separate buckets for keys before and after the query", "the model",
                          "true; decoders false"));
  t5.optional("n_heads", ParamType::integer(), from_parent("heads of the attention layers"));
  r.add<Layer>("layer", "t5_bias", t5, [](const Config& c) {
    return std::make_shared<RelativePositionBias>(
        inherited_int(c, "n_heads"), c.get<int64_t>("num_buckets"), c.get<int64_t>("max_distance"),
        c.get<bool>("bidirectional", true));
  });

  Schema l(
      "LSTM layer (forward, backward or both directions) with an optional projection (LSTMP) and "
      "ELMo's clipping; PyTorch's gate order and parameter names");
  l.optional("d_model", ParamType::integer(), from_parent("input width"));
  l.optional("d_hidden", ParamType::integer(), "memory cells (default: d_model)");
  l.optional(
      "d_proj", ParamType::integer(),
      from_parent("project the hidden state to this width (LSTMP; ELMo 512)", "the model", "none"));
  l.choice("direction", {"forward", "backward", "both"}, "forward",
           "reading direction; both concatenates forward and backward outputs");
  l.optional("bias", ParamType::boolean(),
             from_parent("biases b_ih and b_hh", "the model", "true"));
  l.number("cell_clip", 0.0, "clip the cells to [-cell_clip, cell_clip] (0: off; ELMo 3)").min(0);
  l.number("proj_clip", 0.0, "clip the projection likewise (0: off; ELMo 3)").min(0);
  r.add<Layer>("layer", "lstm", l, [](const Config& c) {
    LSTMConfig o;
    o.d_model = inherited_int(c, "d_model");
    o.d_hidden = c.get<int64_t>("d_hidden", 0);
    if (c.has("d_hidden") && !c.at("d_hidden").is_null() && o.d_hidden < 1)
      c.at("d_hidden").fail("d_hidden must be >= 1");
    o.d_proj = c.get<int64_t>("d_proj", 0);
    if (c.has("d_proj") && !c.at("d_proj").is_null() && o.d_proj < 1)
      c.at("d_proj").fail("d_proj must be >= 1 (leave it out for no projection)");
    const std::string dir = c.get<std::string>("direction");
    o.direction = dir == "forward"    ? LSTMConfig::Direction::forward
                  : dir == "backward" ? LSTMConfig::Direction::backward
                                      : LSTMConfig::Direction::both;
    o.bias = c.get<bool>("bias", true);
    o.cell_clip = c.get<double>("cell_clip");
    o.proj_clip = c.get<double>("proj_clip");
    if (o.proj_clip > 0 && o.d_proj == 0) c.at("proj_clip").fail("proj_clip needs d_proj > 0");
    return std::make_shared<LSTM>(o);
  });

  Schema seq(
      "sequence classification head (GLUE, NSP/SOP): [CLS] state or mean over real tokens, "
      "pooler (dense + tanh), dropout, linear: [B, T, d] -> [B, n_classes]");
  seq.integer("n_classes", std::nullopt, "number of classes").min(1);
  seq.boolean("pooler", true, "BERT's pooler: dense [d, d] + tanh before the classifier");
  seq.choice("pooling", {"first", "mean"}, "first",
             "the first token's state ([CLS]) or the mean over real tokens (key_padding)");
  seq.optional("dropout", ParamType::number(),
               from_parent("dropout before the classifier", "the model", "0"));
  seq.optional("d_model", ParamType::integer(), from_parent("width of the hidden states"));
  r.add<Layer>("layer", "sequence_classification", seq, [](const Config& c) {
    const double dropout = c.get<double>("dropout", 0.0);
    if (dropout < 0 || dropout >= 1) c.at("dropout").fail("dropout must be in [0, 1)");
    return std::make_shared<SequenceHead>(
        inherited_int(c, "d_model"), c.get<int64_t>("n_classes"), c.get<bool>("pooler"),
        c.get<std::string>("pooling") == "mean" ? Pooling::mean : Pooling::first, dropout);
  });

  Schema tok(
      "token classification head (NER; ELECTRA's discriminator): optional dense + activation, "
      "dropout, linear: [B, T, d] -> [B, T, n_classes]");
  tok.integer("n_classes", std::nullopt, "number of classes").min(1);
  tok.boolean("hidden", false, "a dense [d, d] + activation before the classifier (ELECTRA)");
  tok.choice("activation", activation_names(), "gelu", "activation of the hidden layer");
  tok.optional("dropout", ParamType::number(),
               from_parent("dropout before the classifier", "the model", "0"));
  tok.optional("d_model", ParamType::integer(), from_parent("width of the hidden states"));
  r.add<Layer>("layer", "token_classification", tok, [](const Config& c) {
    const double dropout = c.get<double>("dropout", 0.0);
    if (dropout < 0 || dropout >= 1) c.at("dropout").fail("dropout must be in [0, 1)");
    return std::make_shared<TokenHead>(inherited_int(c, "d_model"), c.get<int64_t>("n_classes"),
                                       c.get<bool>("hidden"),
                                       parse_activation(c.get<std::string>("activation")), dropout);
  });

  Schema span(
      "span prediction head (SQuAD): linear [2, d]: [B, T, d] -> [B, T, 2], start logits at "
      "[..., 0] and end logits at [..., 1]");
  span.optional("dropout", ParamType::number(),
                from_parent("dropout before the linear", "the model", "0"));
  span.optional("d_model", ParamType::integer(), from_parent("width of the hidden states"));
  r.add<Layer>("layer", "span_prediction", span, [](const Config& c) {
    const double dropout = c.get<double>("dropout", 0.0);
    if (dropout < 0 || dropout >= 1) c.at("dropout").fail("dropout must be in [0, 1)");
    return std::make_shared<TokenHead>(inherited_int(c, "d_model"), 2, false, Activation::gelu,
                                       dropout);
  });
}

// ---- stacks ---------------------------------------------------------------------------------

// The parameters every stack of blocks declares (as the decoder's).
void add_stack_params(Schema& s, const std::string& default_position, int64_t context) {
  s.integer("vocab", std::nullopt, "vocabulary size").min(1);
  s.integer("d_model", std::nullopt, "width of the hidden states").min(1);
  s.integer("context", context, "the most positions one sequence may hold").min(1);
  s.optional("n_heads", ParamType::integer(), "query heads of every attention layer");
  s.optional("n_kv_heads", ParamType::integer(), "key/value heads (GQA; default n_heads)");
  s.optional("head_dim", ParamType::integer(), "dims of each head (default d_model / n_heads)");
  s.optional("d_mlp", ParamType::integer(), "MLP hidden width (default 4 d_model)");
  s.add(Param{"activation",
              ParamType::any(),
              Config("gelu"),
              false,
              {},
              {},
              "MLP activation: " + activation_list() + " or a layer component"});
  s.boolean("bias", true, "biases in every projection and LayerNorm (false as T5)");
  s.number("dropout", 0.0, "dropout on embeddings, attention probabilities and block outputs")
      .range(0, 1);
  s.component("norm", "layer", component_config("layer", "layer_norm"),
              "the norm of every block, of the embeddings and the final norm");
  s.choice("norm_position", {"pre", "post"}, default_position,
           "pre-norm blocks (GPT-2, T5) or post-norm (BERT, BART)");
  s.optional("final_norm", ParamType::boolean(),
             "a norm after the last block (default: with pre-norm blocks)");
  s.number("init_std", 0.02, "weights are drawn from normal(0, init_std)").min(0);
}

struct StackSpec {
  std::string n_key = "n_layers", block_key = "block", blocks_key = "blocks";
  bool causal = false;
  bool cross = false;
  int64_t n_groups = 0;  // distinct blocks (0: one a layer)
  int64_t d_pos = 0;     // width of absolute positions (the embedding width)
  int64_t context = 0;
};

struct Stack {
  std::vector<std::shared_ptr<Layer>> blocks;  // distinct
  std::vector<int64_t> layer_blocks;
  std::shared_ptr<Positions> absolute;  // added to the embeddings
  std::shared_ptr<Positions> shared;    // trained relative scheme the owner shares
  std::shared_ptr<Layer> final_norm;
};

Stack build_stack(const Config& c, const StackSpec& s) {
  Stack out;
  Config base = settings(c, {"d_model", "n_heads", "n_kv_heads", "head_dim", "d_mlp", "activation",
                             "bias", "dropout", "norm", "norm_position"});
  base.set("causal", Config(s.causal));
  if (s.cross) base.set("cross_attn", component_config("layer", "attention"));
  Config pos_settings = Config::table();
  pos_settings.set("d_model", Config(s.d_pos));
  pos_settings.set("context", Config(s.context));
  if (const Config* h = c.find("n_heads"); h && !h->is_null()) pos_settings.set("n_heads", *h);
  pos_settings.set("bidirectional", Config(!s.causal));
  const Config& pos_config = c.at("pos");
  std::shared_ptr<Positions> pos = make_positions(inherit(pos_config, pos_settings));
  if (pos->is_absolute())
    out.absolute = pos;
  else if (!pos->named_parameters().empty())
    out.shared = pos;
  else
    base.set("pos", pos_config).set_path(pos_config.path());

  const BlockPattern pattern = block_pattern(c, s.n_key, s.block_key, s.blocks_key);
  const int64_t L = pattern.n_layers, P = int64_t(pattern.blocks.size());
  const int64_t G = s.n_groups > 0 ? s.n_groups : L;
  if (s.n_groups > 0) {
    const Config& g = c.at("n_groups");
    if (L % G != 0)
      g.fail("n_groups (" + std::to_string(G) + ") must divide n_layers (" + std::to_string(L) +
             ")");
    if (G % P != 0)
      g.fail("n_groups (" + std::to_string(G) + ") must be a multiple of the " + std::to_string(P) +
             " blocks given");
  }
  for (int64_t g = 0; g < G; ++g)
    out.blocks.push_back(make_layer(inherit(pattern.blocks[size_t(g % P)], base)));
  for (int64_t i = 0; i < L; ++i) out.layer_blocks.push_back(i / (L / G));

  const bool pre = c.get<std::string>("norm_position") == "pre";
  if (c.get<bool>("final_norm", pre))
    out.final_norm = make_layer(inherit(c.at("norm"), settings(c, {"d_model", "bias"})));
  return out;
}

// The model's norm over `width` dims (embedding norms and MLM heads work in d_embed).
std::shared_ptr<Layer> norm_of_width(const Config& c, int64_t width) {
  Config s = settings(c, {"bias"});
  s.set("d_model", Config(width));
  return make_layer(inherit(c.at("norm"), s));
}

InitOptions init_of(const Config& c) {
  InitOptions init;
  init.scheme = InitOptions::Scheme::llama;  // normal(0, std) for every matrix (BERT, T5)
  init.std = c.get<double>("init_std");
  return init;
}

// The input embeddings of an encoder: token [vocab, d_embed], positions, types, norm.
std::shared_ptr<Embeddings> make_embeddings(const Config& c, std::shared_ptr<TokenEmbedding> wte,
                                            bool own_wte, std::shared_ptr<Positions> absolute,
                                            int64_t n_types) {
  const int64_t E = wte->weight.size(1);
  std::shared_ptr<Layer> norm;
  if (c.get<bool>("embed_norm")) norm = norm_of_width(c, E);
  return std::make_shared<Embeddings>(std::move(wte), own_wte, std::move(absolute), n_types, norm,
                                      c.get<double>("dropout"), c.get<double>("embed_scale", 1.0));
}

int64_t d_embed_of(const Config& c) {
  const int64_t d = c.get<int64_t>("d_model");
  const int64_t E = c.get<int64_t>("d_embed", d);
  if (E < 1) c.at("d_embed").fail("d_embed must be >= 1");
  return E;
}

void check_dropout(const Config& c) {
  if (c.get<double>("dropout") >= 1) c.at("dropout").fail("dropout must be < 1");
}

// ---- encoder --------------------------------------------------------------------------------

void add_encoder_params(Schema& s) {
  s.optional("n_layers", ParamType::integer(), "number of layers (default: the length of blocks)");
  s.component("pos", "layer", component_config("layer", "learned"),
              "positions: learned{} (BERT), sinusoidal{}, t5_bias{}, rope{}, alibi{} or nope{}");
  s.component("block", "layer", component_config("layer", "block"),
              "the block repeated n_layers times (its attention is made bidirectional)");
  s.optional("blocks", ParamType::list(ParamType::component("layer")),
             "blocks that differ by layer, repeated in order");
  s.integer("n_types", 2, "token types (sentence A/B) embedded (0: none; RoBERTa 1)").min(0);
  s.optional("d_embed", ParamType::integer(),
             "embedding width, projected to d_model when smaller (ALBERT: 128; default d_model)");
  s.boolean("embed_norm", true, "a norm of the embeddings (BERT's embeddings.LayerNorm)");
}

std::shared_ptr<MLMHead> make_mlm_head(const Config& c, int64_t d, int64_t vocab,
                                       const std::shared_ptr<TokenEmbedding>& wte, bool tied) {
  const int64_t E = wte->weight.size(1);
  Activation act = named_activation(c, "mlm_activation", "gelu");
  return std::make_shared<MLMHead>(d, E, vocab, act, norm_of_width(c, E), tied ? wte : nullptr);
}

void register_encoder(Registry& r) {
  Schema s(
      "encoder-only model (BERT, RoBERTa, ALBERT): embeddings (optionally factorised), "
      "bidirectional blocks (optionally shared across layers), MLM and sentence heads");
  add_stack_params(s, "post", 512);
  add_encoder_params(s);
  s.optional("n_groups", ParamType::integer(),
             "ALBERT's cross-layer sharing: n_groups distinct blocks, each run by n_layers / "
             "n_groups consecutive layers (1: one block for all; default n_layers: none)");
  s.boolean("mlm_head", true, "the MLM head (dense + activation + norm, tied decoder + bias)");
  s.choice("mlm_activation", activation_names(), "gelu", "activation of the MLM head's dense");
  s.boolean("tie_embeddings", true, "the MLM decoder reuses the token embedding");
  s.integer("sentence_head", 0,
            "classes of a sentence-level head on [CLS] with BERT's pooler (NSP, SOP: 2; 0: none)")
      .min(0);
  r.add<nn::Model>("model", "encoder", s, [](const Config& c) {
    check_dropout(c);
    const int64_t vocab = c.get<int64_t>("vocab"), d = c.get<int64_t>("d_model");
    const int64_t E = d_embed_of(c);
    InitOptions init = init_of(c);
    InitScope init_scope(init);
    StackSpec spec;
    spec.d_pos = E;
    spec.context = c.get<int64_t>("context");
    if (const Config* g = c.find("n_groups"); g && !g->is_null()) {
      spec.n_groups = g->as_int();
      if (spec.n_groups < 1) g->fail("n_groups must be >= 1");
    }
    Stack stack = build_stack(c, spec);
    auto wte = std::make_shared<TokenEmbedding>(vocab, E);
    EncoderParts p;
    p.d_model = d;
    p.context = spec.context;
    p.init = init;
    p.embeddings = make_embeddings(c, wte, true, stack.absolute, c.get<int64_t>("n_types"));
    p.rel_pos = stack.shared;
    p.blocks = std::move(stack.blocks);
    p.layer_blocks = std::move(stack.layer_blocks);
    p.final_norm = stack.final_norm;
    const bool tied = c.get<bool>("tie_embeddings");
    if (c.get<bool>("mlm_head"))
      p.mlm_head = make_mlm_head(c, d, vocab, wte, tied);
    else
      (void)c.get<std::string>("mlm_activation");
    // BERT's pre-training heads apply no dropout to the pooled state.
    if (const int64_t n = c.get<int64_t>("sentence_head"); n > 0)
      p.sentence_head = std::make_shared<SequenceHead>(d, n, true, Pooling::first, 0.0);
    return std::make_shared<Encoder>(std::move(p));
  });
}

// ---- ELECTRA --------------------------------------------------------------------------------

void register_electra(Registry& r) {
  Schema s(
      "ELECTRA: a generator (MLM) and a discriminator (replaced-token detection) sharing the "
      "embeddings; the generator a fraction of the discriminator's size");
  add_stack_params(s, "post", 512);
  add_encoder_params(s);
  s.number("generator_size", 1.0 / 3.0,
           "the generator's width, heads and MLM width as a fraction of the discriminator's "
           "(ELECTRA-base 1/3, -large 1/4)")
      .range(0, 1);
  s.optional("generator_layers", ParamType::integer(), "the generator's layers (default n_layers)");
  s.choice("mlm_activation", activation_names(), "gelu",
           "activation of the generator's MLM head and the discriminator's head");
  r.add<nn::Model>("model", "electra", s, [](const Config& c) {
    check_dropout(c);
    const int64_t vocab = c.get<int64_t>("vocab"), d = c.get<int64_t>("d_model");
    const int64_t E = d_embed_of(c);
    InitOptions init = init_of(c);
    InitScope init_scope(init);
    StackSpec spec;
    spec.d_pos = E;
    spec.context = c.get<int64_t>("context");
    Stack disc = build_stack(c, spec);

    // The generator: the same config, scaled.
    const double f = c.get<double>("generator_size");
    if (f <= 0) c.at("generator_size").fail("generator_size must be > 0");
    auto scaled = [f](int64_t v) { return std::max<int64_t>(1, std::llround(double(v) * f)); };
    Config g = c;
    auto put = [&](const char* key, int64_t v) {
      const std::string path = c.find(key) ? c.at(key).path() : c.path();
      g.set(key, Config(v)).set_path(path);
    };
    put("d_model", scaled(d));
    if (const Config* h = c.find("n_heads"); h && !h->is_null())
      put("n_heads", scaled(h->as_int()));
    put("d_mlp", scaled(c.get<int64_t>("d_mlp", 4 * d)));
    g.erase("n_kv_heads");
    if (const Config* n = c.find("generator_layers"); n && !n->is_null()) {
      if (n->as_int() < 1) n->fail("generator_layers must be >= 1");
      put("n_layers", n->as_int());
    }
    Stack gen = build_stack(g, spec);

    auto wte = std::make_shared<TokenEmbedding>(vocab, E);
    auto embeddings = make_embeddings(c, wte, true, disc.absolute, c.get<int64_t>("n_types"));
    auto encoder_of = [&](Stack& st, int64_t width) {
      EncoderParts p;
      p.d_model = width;
      p.context = spec.context;
      p.init = init;
      p.embeddings = embeddings;
      p.own_embeddings = false;
      p.rel_pos = st.shared;
      p.blocks = std::move(st.blocks);
      p.layer_blocks = std::move(st.layer_blocks);
      p.final_norm = st.final_norm;
      return p;
    };
    EncoderParts dp = encoder_of(disc, d);
    EncoderParts gp = encoder_of(gen, g.get<int64_t>("d_model"));
    gp.mlm_head = make_mlm_head(c, gp.d_model, vocab, wte, true);
    auto head =
        std::make_shared<TokenHead>(d, 1, true, named_activation(c, "mlm_activation", "gelu"), 0.0);
    return std::make_shared<Electra>(embeddings, std::make_shared<Encoder>(std::move(dp)), head,
                                     std::make_shared<Encoder>(std::move(gp)));
  });
}

// ---- encoder-decoder ------------------------------------------------------------------------

void register_encoder_decoder(Registry& r) {
  Schema s(
      "encoder-decoder (BART, T5): a bidirectional encoder and a causal decoder with "
      "cross-attention, sharing the token embedding");
  add_stack_params(s, "pre", 1024);
  s.integer("n_layers", std::nullopt, "encoder layers").min(1);
  s.optional("n_decoder_layers", ParamType::integer(), "decoder layers (default n_layers)");
  s.component("pos", "layer", component_config("layer", "learned"),
              "positions: learned{} (BART; one table per stack), t5_bias{} (T5; one per stack, "
              "bidirectional in the encoder, causal in the decoder), sinusoidal{}, rope{}, ...");
  s.component("encoder_block", "layer", component_config("layer", "block"),
              "the encoder's block (its attention made bidirectional)");
  s.component("decoder_block", "layer", component_config("layer", "block"),
              "the decoder's block (causal, with cross-attention)");
  s.boolean("embed_norm", false, "a norm of the embeddings in each stack (BART)");
  s.number("embed_scale", 1.0, "token embeddings are multiplied by this (BART-large sqrt(d))")
      .min(0);
  s.boolean("scale_logits", false,
            "multiply the decoder's final states by d_model^-0.5 before the head (T5, tied)");
  s.boolean("tie_embeddings", true, "the LM head reuses the shared token embedding");
  s.integer("decoder_start", 0, "the decoder's first input id (T5: pad 0; BART: </s> 2)").min(0);
  r.add<nn::Model>("model", "encoder_decoder", s, [](const Config& c) {
    check_dropout(c);
    const int64_t vocab = c.get<int64_t>("vocab"), d = c.get<int64_t>("d_model");
    InitOptions init = init_of(c);
    InitScope init_scope(init);
    StackSpec enc_spec;
    enc_spec.block_key = "encoder_block";
    enc_spec.blocks_key = "encoder_blocks";  // not declared: always the one block
    enc_spec.d_pos = d;
    enc_spec.context = c.get<int64_t>("context");
    Stack enc = build_stack(c, enc_spec);

    Config dc = c;
    if (const Config* n = c.find("n_decoder_layers"); !n || n->is_null())
      dc.set("n_decoder_layers", c.at("n_layers")).set_path(c.at("n_layers").path());
    StackSpec dec_spec = enc_spec;
    dec_spec.n_key = "n_decoder_layers";
    dec_spec.block_key = "decoder_block";
    dec_spec.blocks_key = "decoder_blocks";
    dec_spec.causal = true;
    dec_spec.cross = true;
    Stack dec = build_stack(dc, dec_spec);

    auto shared = std::make_shared<TokenEmbedding>(vocab, d);
    EncoderParts p;
    p.d_model = d;
    p.context = enc_spec.context;
    p.init = init;
    p.embeddings = make_embeddings(c, shared, false, enc.absolute, 0);
    p.rel_pos = enc.shared;
    p.blocks = std::move(enc.blocks);
    p.layer_blocks = std::move(enc.layer_blocks);
    p.final_norm = enc.final_norm;
    auto encoder = std::make_shared<Encoder>(std::move(p));

    DecoderConfig dcfg;
    dcfg.vocab = vocab;
    dcfg.d_model = d;
    dcfg.context = enc_spec.context;
    dcfg.tie_embeddings = c.get<bool>("tie_embeddings");
    dcfg.dropout = c.get<double>("dropout");
    dcfg.embed_scale = c.get<double>("embed_scale");
    dcfg.logit_scale = c.get<bool>("scale_logits") ? 1.0 / std::sqrt(double(d)) : 1.0;
    dcfg.init = init;
    std::vector<std::shared_ptr<Layer>> blocks;
    for (int64_t b : dec.layer_blocks) blocks.push_back(dec.blocks[size_t(b)]);
    std::shared_ptr<Positions> dec_pos = dec.absolute ? dec.absolute : dec.shared;
    std::shared_ptr<Layer> embed_norm;
    if (c.get<bool>("embed_norm")) embed_norm = norm_of_width(c, d);
    auto decoder = std::make_shared<Decoder>(dcfg, dec_pos, std::move(blocks), dec.final_norm,
                                             embed_norm, shared);
    return std::make_shared<EncoderDecoder>(shared, encoder, decoder,
                                            c.get<int64_t>("decoder_start"));
  });
}

// ---- biLM -----------------------------------------------------------------------------------

void register_bilm(Registry& r) {
  Schema s(
      "ELMo-style bidirectional LM: token embedding, forward and backward stacks of causal "
      "layers (LSTMs by default), one shared softmax");
  s.integer("vocab", std::nullopt, "vocabulary size").min(1);
  s.integer("d_model", std::nullopt, "width of the embeddings and of each layer's output").min(1);
  s.integer("n_layers", std::nullopt, "layers in each direction").min(1);
  s.integer("context", 1024, "the most positions one sequence may hold").min(1);
  s.component("layer", "layer", component_config("layer", "lstm"),
              "the layer of each stack: lstm{} (ELMo) or a causal block{}");
  s.optional("d_hidden", ParamType::integer(),
             "LSTM cells (default d_model); a projection back to d_model when larger (ELMo 4096)");
  s.optional("n_heads", ParamType::integer(), "attention heads (block layers)");
  s.optional("d_mlp", ParamType::integer(), "MLP width (block layers)");
  s.boolean("residual", true, "residual connections around the LSTM layers after the first");
  s.number("dropout", 0.0, "dropout on the embeddings and between layers").range(0, 1);
  s.boolean("tie_embeddings", true, "the softmax reuses the token embedding");
  s.number("init_std", 0.02, "the embeddings are drawn from normal(0, init_std)").min(0);
  r.add<nn::Model>("model", "bilm", s, [](const Config& c) {
    check_dropout(c);
    BiLMConfig b;
    b.vocab = c.get<int64_t>("vocab");
    b.d_model = c.get<int64_t>("d_model");
    b.context = c.get<int64_t>("context");
    b.tie_embeddings = c.get<bool>("tie_embeddings");
    b.residual = c.get<bool>("residual");
    b.dropout = c.get<double>("dropout");
    b.init = init_of(c);
    InitScope init_scope(b.init);
    Config down = settings(c, {"d_model", "d_hidden", "n_heads", "d_mlp"});
    down.set("causal", Config(true));
    if (const Config* h = c.find("d_hidden"); h && !h->is_null() && h->as_int() != b.d_model)
      down.set("d_proj", Config(b.d_model));
    const int64_t n = c.get<int64_t>("n_layers");
    std::vector<std::shared_ptr<Layer>> fwd, bwd;
    for (int64_t i = 0; i < n; ++i) fwd.push_back(make_layer(inherit(c.at("layer"), down)));
    for (int64_t i = 0; i < n; ++i) bwd.push_back(make_layer(inherit(c.at("layer"), down)));
    return std::make_shared<BiLM>(b, std::move(fwd), std::move(bwd));
  });
}

}  // namespace

void register_encoder_components(Registry& r) {
  register_layers(r);
  register_encoder(r);
  register_electra(r);
  register_encoder_decoder(r);
  register_bilm(r);
}

}  // namespace kiln::layers
