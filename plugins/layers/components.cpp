#include "plugins/layers/components.h"

#include "plugins/layers/attention.h"
#include "plugins/layers/block.h"
#include "plugins/layers/common.h"
#include "plugins/layers/component_util.h"
#include "plugins/layers/decoder.h"
#include "plugins/layers/mlp.h"
#include "plugins/layers/norm.h"
#include "plugins/layers/positions.h"

namespace kiln::layers {
namespace {

using nn::Layer;

// ---- embeddings and positions ---------------------------------------------------------------

void register_positions(Registry& r) {
  Schema te("token embedding: a learned table [vocab, d_model] looked up by token id");
  te.integer("vocab", std::nullopt, "vocabulary size").min(1);
  te.optional("d_model", ParamType::integer(), from_parent("embedding width"));
  r.add<Layer>("layer", "token_embedding", te, [](const Config& c) {
    return std::make_shared<TokenEmbedding>(c.get<int64_t>("vocab"), inherited_int(c, "d_model"));
  });

  Schema learned(
      "learned absolute positions (GPT-2): a table [context, d_model] added to the token "
      "embeddings");
  learned.optional("context", ParamType::integer(), from_parent("number of positions"));
  learned.optional("d_model", ParamType::integer(), from_parent("embedding width"));
  r.add<Layer>("layer", "learned", learned, [](const Config& c) {
    return std::make_shared<LearnedPositions>(inherited_int(c, "context"),
                                              inherited_int(c, "d_model"));
  });

  Schema sin("fixed sinusoidal positions (Vaswani et al. 2017) added to the token embeddings");
  sin.number("base", 10000.0, "wavelengths grow geometrically from 2 pi to base * 2 pi").min(1);
  sin.optional("context", ParamType::integer(), from_parent("number of positions"));
  sin.optional("d_model", ParamType::integer(), from_parent("embedding width (even)"));
  r.add<Layer>("layer", "sinusoidal", sin, [](const Config& c) {
    double base = c.get<double>("base");
    return std::make_shared<SinusoidalPositions>(inherited_int(c, "context"),
                                                 inherited_int(c, "d_model"), base);
  });

  Schema rope(
      "rotary position embedding (Su et al. 2021) of queries and keys, GPT-NeoX/LLaMA layout");
  rope.number("theta", 10000.0, "base of the rotation frequencies theta^(-2i/R)").min(1);
  rope.number("fraction", 1.0,
              "fraction of each head's dims that rotate (partial rotary, as GPT-NeoX)")
      .range(0, 1);
  r.add<Layer>("layer", "rope", rope, [](const Config& c) {
    double theta = c.get<double>("theta"), fraction = c.get<double>("fraction");
    if (fraction <= 0) c.at("fraction").fail("fraction must be > 0");
    return std::make_shared<RotaryPositions>(theta, fraction);
  });

  Schema alibi(
      "ALiBi (Press et al. 2022): score bias -m_h (i - j) with head slopes 2^(-8h/H); "
      "-m_h |i - j| in bidirectional attention");
  alibi.optional("bidirectional", ParamType::boolean(),
                 from_parent("the symmetric bias, for attention that sees keys after the query",
                             "the attention layer", "false"));
  r.add<Layer>("layer", "alibi", alibi, [](const Config& c) {
    return std::make_shared<AlibiPositions>(c.get<bool>("bidirectional", false));
  });
  r.add<Layer>("layer", "nope",
               Schema("no position information (NoPE): causal attention alone orders tokens"),
               [](const Config&) { return std::make_shared<NoPositions>(); });
}

// ---- norms ----------------------------------------------------------------------------------

void register_norms(Registry& r) {
  Schema ln(
      "LayerNorm (Ba et al. 2016): (x - mean) / sqrt(var + eps) * weight + bias over d_model");
  ln.number("eps", 1e-5, "added to the variance").min(0);
  ln.optional("bias", ParamType::boolean(),
              from_parent("whether to learn a bias", "the model", "true"));
  ln.optional("d_model", ParamType::integer(), from_parent("normalised width"));
  r.add<Layer>("layer", "layer_norm", ln, [](const Config& c) {
    double eps = c.get<double>("eps");
    bool bias = c.get<bool>("bias", true);
    return std::make_shared<LayerNorm>(inherited_int(c, "d_model"), bias, eps);
  });

  Schema rms("RMSNorm (Zhang & Sennrich 2019): x / sqrt(mean(x^2) + eps) * weight over d_model");
  rms.number("eps", 1e-6, "added to the mean square").min(0);
  rms.optional("d_model", ParamType::integer(), from_parent("normalised width"));
  r.add<Layer>("layer", "rms_norm", rms, [](const Config& c) {
    double eps = c.get<double>("eps");
    return std::make_shared<RMSNorm>(inherited_int(c, "d_model"), eps);
  });
}

// ---- attention and MLP ----------------------------------------------------------------------

void register_attention(Registry& r) {
  Schema s(
      "multi-head self-attention: GQA/MQA, causal, sliding window, dropout, qk-norm, RoPE/ALiBi, "
      "KV cache");
  s.optional("n_heads", ParamType::integer(), from_parent("number of query heads", "the block"));
  s.optional(
      "n_kv_heads", ParamType::integer(),
      from_parent(
          "key/value heads: n_heads for multi-head, 1 for multi-query, a divisor of n_heads for "
          "grouped-query attention",
          "the block", "n_heads"));
  s.optional("head_dim", ParamType::integer(), "dims of each head (default: d_model / n_heads)");
  s.optional("causal", ParamType::boolean(),
             from_parent("each token attends only to itself and earlier tokens (decoders)",
                         "the block", "true; false for cross-attention"));
  s.boolean("cross", false,
            "cross-attention: queries from the input, keys and values from the encoder's "
            "memory (a decoder block's cross_attn sets it)");
  s.optional("d_memory", ParamType::integer(),
             "cross-attention: width of the memory (default: d_model)");
  s.integer("window", 0,
            "sliding window: attend only to the last `window` tokens, itself included (0: all)")
      .min(0);
  s.optional("dropout", ParamType::number(),
             from_parent("dropout on the attention probabilities", "the block", "0"));
  s.boolean("qk_norm", false,
            "RMSNorm of each head's queries and keys (weights [head_dim]) before RoPE");
  s.number("qk_norm_eps", 1e-6, "eps of the qk-norm").min(0);
  s.optional("bias", ParamType::boolean(),
             from_parent("biases in the projections", "the block", "true"));
  s.optional("scale", ParamType::number(), "score scale (default: 1 / sqrt(head_dim))");
  s.optional("pos", ParamType::component("layer"),
             from_parent("relative position scheme: rope{} or alibi{}"));
  s.optional("d_model", ParamType::integer(),
             from_parent("width of the residual stream", "the block"));
  r.add<Layer>("layer", "attention", s, [](const Config& c) {
    AttentionConfig a;
    a.d_model = inherited_int(c, "d_model");
    a.n_heads = inherited_int(c, "n_heads");
    a.n_kv_heads = c.get<int64_t>("n_kv_heads", 0);
    a.head_dim = c.get<int64_t>("head_dim", 0);
    a.cross = c.get<bool>("cross");
    a.causal = c.get<bool>("causal", !a.cross);
    a.d_memory = c.get<int64_t>("d_memory", 0);
    if (a.cross && a.causal) c.at("causal").fail("cross-attention cannot be causal");
    if (c.has("d_memory") && !c.at("d_memory").is_null() && a.d_memory < 1)
      c.at("d_memory").fail("d_memory must be >= 1");
    a.window = c.get<int64_t>("window");
    a.dropout = c.get<double>("dropout", 0.0);
    a.qk_norm = c.get<bool>("qk_norm");
    a.qk_norm_eps = c.get<double>("qk_norm_eps");
    a.bias = c.get<bool>("bias", true);
    a.scale = c.get<double>("scale", 0.0);
    if (a.n_heads < 1) c.at("n_heads").fail("n_heads must be >= 1");
    if (a.n_kv_heads < 0 || (a.n_kv_heads > 0 && a.n_heads % a.n_kv_heads != 0))
      c.at("n_kv_heads")
          .fail("n_kv_heads (" + std::to_string(a.n_kv_heads) + ") must divide n_heads (" +
                std::to_string(a.n_heads) + ")");
    if (a.head_dim == 0 && a.d_model % a.n_heads != 0)
      c.fail("d_model (" + std::to_string(a.d_model) + ") is not a multiple of n_heads (" +
             std::to_string(a.n_heads) + "); set head_dim");
    if (a.head_dim < 0) c.at("head_dim").fail("head_dim must be >= 1");
    if (c.has("scale") && !c.at("scale").is_null() && a.scale <= 0)
      c.at("scale").fail("scale must be > 0");
    if (a.window > 0 && !a.causal) c.at("window").fail("a sliding window needs causal = true");
    if (a.dropout < 0 || a.dropout >= 1) c.at("dropout").fail("dropout must be in [0, 1)");
    std::shared_ptr<Positions> pos;
    if (const Config* p = c.find("pos"); p && !p->is_null()) {
      if (a.cross) p->fail("cross-attention takes no position scheme");
      Config pos_settings = Config::table();
      pos_settings.set("n_heads", Config(a.n_heads));
      pos_settings.set("bidirectional", Config(!a.causal));
      pos = make_positions(inherit(*p, pos_settings));
      if (pos->is_absolute())
        p->fail("absolute positions are added to the embeddings: give " + p->component_name() +
                "{} to the model, not to attention");
    }
    return std::make_shared<Attention>(a, pos);
  });

  Schema m("feed-forward layer: GELU, ReLU, SiLU, or gated SwiGLU/GeGLU (or any activation layer)");
  m.optional(
      "d_mlp", ParamType::integer(),
      from_parent(
          "hidden width; unset anywhere: 4 d_model, gated 8/3 d_model rounded to multiple_of",
          "the block"));
  m.integer("multiple_of", 1,
            "round the default hidden width up to a multiple of this (LLaMA: 256)")
      .min(1);
  m.optional(
      "activation", ParamType::any(),
      from_parent("\"gelu\", \"gelu_tanh\", \"relu\", \"silu\", \"swiglu\", \"geglu\", or a layer "
                  "component applied elementwise",
                  "the block", "\"gelu\""));
  m.boolean("gated", false,
            "with an activation layer: act(gate(x)) * up(x) (the named gated ones imply it)");
  m.optional("bias", ParamType::boolean(),
             from_parent("biases in the projections", "the block", "true"));
  m.optional("d_model", ParamType::integer(),
             from_parent("width of the residual stream", "the block"));
  r.add<Layer>("layer", "mlp", m, [](const Config& c) {
    MLPConfig o;
    o.d_model = inherited_int(c, "d_model");
    o.d_mlp = c.get<int64_t>("d_mlp", 0);
    o.multiple_of = c.get<int64_t>("multiple_of");
    o.gated = c.get<bool>("gated");
    o.bias = c.get<bool>("bias", true);
    if (o.d_mlp < 0 || (c.has("d_mlp") && !c.at("d_mlp").is_null() && o.d_mlp == 0))
      c.at("d_mlp").fail("d_mlp must be >= 1");
    std::shared_ptr<Layer> act;
    const Config* a = c.find("activation");
    if (!a || a->is_null()) {
      o.activation = Activation::gelu;
    } else if (a->is_component()) {
      o.activation = Activation::layer;
      Config settings_for_act = Config::table();
      settings_for_act.set("d_model", Config(o.d_model));
      act = make_layer(inherit(*a, settings_for_act));
    } else if (a->type() == Config::Type::string) {
      try {
        o.activation = parse_activation(a->as_string());
      } catch (const Error& e) {
        a->fail(e.what());
      }
    } else {
      a->fail("expected an activation name (\"gelu\", \"swiglu\", ...) or a layer component, got " +
              a->type_name());
    }
    if (o.gated && o.activation != Activation::layer)
      c.at("gated").fail(
          "gated applies to activation layers; use \"swiglu\" or \"geglu\" for the named ones");
    return std::make_shared<MLP>(o, act);
  });
}

// ---- blocks and the decoder -----------------------------------------------------------------

// The settings a block hands to its attention, MLP and norms.
const std::initializer_list<const char*> kBlockSettings = {
    "d_model",    "n_heads", "n_kv_heads", "head_dim", "d_mlp",    "activation",
    "bias",       "dropout", "pos",        "causal",   "attn_only"};

void register_block(Registry& r) {
  Schema s("a residual block: attention and MLP, each with a norm, pre-norm or post-norm");
  s.component("attn", "layer", component_config("layer", "attention"), "the attention layer");
  s.component("mlp", "layer", component_config("layer", "mlp"), "the feed-forward layer");
  s.optional("cross_attn", ParamType::component("layer"),
             from_parent("a cross-attention sublayer (with its norm, between attention and MLP) "
                         "reading the encoder's memory: attention{} made cross",
                         "the encoder-decoder", "none"));
  s.optional("norm", ParamType::component("layer"),
             from_parent("norm of ln1 and ln2", "the model", "layer_norm{}"));
  s.optional("norm_position", ParamType::choice({"pre", "post"}),
             from_parent(
                 "\"pre\": x + f(norm(x)) (GPT-2); \"post\": norm(x + f(x)) (original Transformer)",
                 "the model", "\"pre\""));
  s.optional("dropout", ParamType::number(),
             from_parent("dropout on the attention and MLP outputs (and on the attention "
                         "probabilities unless attn "
                         "sets its own)",
                         "the model", "0"));
  s.optional("d_model", ParamType::integer(), from_parent("width of the residual stream"));
  s.optional("n_heads", ParamType::integer(), from_parent("query heads of the attention"));
  s.optional("n_kv_heads", ParamType::integer(), from_parent("key/value heads of the attention"));
  s.optional("head_dim", ParamType::integer(), from_parent("dims of each attention head"));
  s.optional("d_mlp", ParamType::integer(), from_parent("hidden width of the MLP"));
  s.optional("activation", ParamType::any(), from_parent("activation of the MLP"));
  s.optional("bias", ParamType::boolean(), from_parent("biases in projections and norms"));
  s.optional("pos", ParamType::component("layer"),
             from_parent("relative position scheme of the attention"));
  s.optional("attn_only", ParamType::boolean(),
             from_parent("attention only: no MLP and no ln2 (interpretability toy models)",
                         "the model", "false"));
  s.optional("causal", ParamType::boolean(),
             from_parent("causal self-attention (decoders: true, encoders: false)"));
  r.add<Layer>("layer", "block", s, [](const Config& c) {
    const Config down = settings(c, kBlockSettings);
    inherited_int(c, "d_model");  // a clear error here rather than in each child
    Config norm = c.find("norm") && !c.at("norm").is_null()
                      ? c.at("norm")
                      : component_config("layer", "layer_norm");
    Config norm_settings = settings(c, {"d_model", "bias"});
    std::string position = c.get<std::string>("norm_position", "pre");
    double dropout = c.get<double>("dropout", 0.0);
    if (dropout < 0 || dropout >= 1) c.at("dropout").fail("dropout must be in [0, 1)");
    auto attn = make_layer(inherit(c.at("attn"), down));
    const bool attn_only = c.get<bool>("attn_only", false);
    std::shared_ptr<Layer> mlp, ln2;
    const Config& mlp_config = c.at("mlp");  // read (and unused) in attention-only blocks
    if (!attn_only) mlp = make_layer(inherit(mlp_config, down));
    auto ln1 = make_layer(inherit(norm, norm_settings));
    if (!attn_only) ln2 = make_layer(inherit(norm, norm_settings));
    std::shared_ptr<Layer> ln_cross, cross;
    if (const Config* x = c.find("cross_attn"); x && !x->is_null()) {
      if (attn_only) x->fail("an attention-only block has no cross-attention");
      Config cross_config = inherit(
          *x, settings(c, {"d_model", "n_heads", "n_kv_heads", "head_dim", "bias", "dropout"}));
      if (x->is_component() && x->component_kind() == "layer" && x->component_name() == "attention")
        cross_config.set("cross", Config(true)).set_path(x->path());
      cross = make_layer(cross_config);
      ln_cross = make_layer(inherit(norm, norm_settings));
    }
    return std::make_shared<Block>(ln1, attn, ln2, mlp, position == "pre", dropout, ln_cross,
                                   cross);
  });
}

void register_decoder(Registry& r) {
  Schema s(
      "decoder-only language model (GPT-2, LLaMA): embeddings, a stack of blocks, final norm, LM "
      "head");
  s.integer("vocab", std::nullopt, "vocabulary size").min(1);
  s.integer("d_model", std::nullopt, "width of the residual stream").min(1);
  s.optional("n_layers", ParamType::integer(), "number of blocks (default: the length of blocks)");
  s.integer("context", 1024, "the most positions one sequence (or a KV cache) may hold").min(1);
  s.optional("n_heads", ParamType::integer(), "query heads of every attention layer");
  s.optional("n_kv_heads", ParamType::integer(), "key/value heads (GQA; 1 = MQA; default n_heads)");
  s.optional("head_dim", ParamType::integer(), "dims of each head (default d_model / n_heads)");
  s.optional("d_mlp", ParamType::integer(),
             "MLP hidden width (default 4 d_model; gated 8/3 d_model)");
  s.add(Param{"activation",
              ParamType::any(),
              Config("gelu"),
              false,
              {},
              {},
              "MLP activation: \"gelu\", \"gelu_tanh\", \"relu\", \"silu\", \"swiglu\", \"geglu\" "
              "or a layer "
              "component"});
  s.boolean("bias", true, "biases in every projection and LayerNorm (false as LLaMA)");
  s.number("dropout", 0.0,
           "dropout on embeddings, attention probabilities and block outputs (training)")
      .range(0, 1);
  s.component("norm", "layer", component_config("layer", "layer_norm"),
              "the norm of every block and the final norm");
  s.choice("norm_position", {"pre", "post"}, "pre", "pre-norm (GPT-2, LLaMA) or post-norm blocks");
  s.component("pos", "layer", component_config("layer", "learned"),
              "positions: learned{}, sinusoidal{}, rope{}, alibi{} or nope{}");
  s.component("block", "layer", component_config("layer", "block"),
              "the block repeated n_layers times");
  s.optional(
      "blocks", ParamType::list(ParamType::component("layer")),
      "blocks that differ by layer, repeated in order to fill n_layers (e.g. {local, global})");
  s.boolean("final_norm", true, "a norm (ln_final) after the last block");
  s.boolean("attn_only", false,
            "attention-only blocks: no MLP and no ln2 (interpretability toy models)");
  s.boolean("tie_embeddings", true, "the LM head reuses the token embedding (wte.weight)");
  s.choice("init", {"gpt2", "llama"}, "gpt2",
           "gpt2: normal(0, init_std), residual projections / sqrt(2 n_layers); llama: normal(0, "
           "init_std)");
  s.number("init_std", 0.02, "standard deviation of the initial weights").min(0);
  r.add<nn::Model>("model", "decoder", s, [](const Config& c) {
    DecoderConfig d;
    d.vocab = c.get<int64_t>("vocab");
    d.d_model = c.get<int64_t>("d_model");
    d.context = c.get<int64_t>("context");
    d.tie_embeddings = c.get<bool>("tie_embeddings");
    d.dropout = c.get<double>("dropout");
    if (d.dropout >= 1) c.at("dropout").fail("dropout must be < 1");
    d.init.scheme = c.get<std::string>("init") == "llama" ? InitOptions::Scheme::llama
                                                          : InitOptions::Scheme::gpt2;
    d.init.std = c.get<double>("init_std");

    const BlockPattern pattern = block_pattern(c, "n_layers");
    const int64_t n_layers = pattern.n_layers;

    // Every layer draws its weights once, as it is made, with the model's scheme.
    d.init.n_layers = n_layers;
    InitScope init_scope(d.init);
    Config base = settings(c, {"d_model", "n_heads", "n_kv_heads", "head_dim", "d_mlp",
                               "activation", "bias", "dropout", "norm", "norm_position",
                               "attn_only"});
    Config pos_settings = Config::table();
    pos_settings.set("d_model", Config(d.d_model));
    pos_settings.set("context", Config(d.context));
    if (const Config* h = c.find("n_heads"); h && !h->is_null()) pos_settings.set("n_heads", *h);
    pos_settings.set("bidirectional", Config(false));
    std::shared_ptr<Positions> pos = make_positions(inherit(c.at("pos"), pos_settings));
    // A relative scheme without parameters is made by each attention layer; one with
    // parameters (T5's bias) is made once here and shared by the decoder.
    if (!pos->is_absolute() && pos->named_parameters().empty())
      base.set("pos", c.at("pos")).set_path(c.at("pos").path());

    std::vector<std::shared_ptr<Layer>> blocks;
    for (int64_t i = 0; i < n_layers; ++i)
      blocks.push_back(
          make_layer(inherit(pattern.blocks[size_t(i) % pattern.blocks.size()], base)));

    std::shared_ptr<Layer> final_norm;
    if (c.get<bool>("final_norm"))
      final_norm = make_layer(inherit(c.at("norm"), settings(c, {"d_model", "bias"})));
    return std::make_shared<Decoder>(d, pos, std::move(blocks), final_norm);
  });
}

}  // namespace

void register_components(Registry& r) {
  register_positions(r);
  register_norms(r);
  register_attention(r);
  register_block(r);
  register_decoder(r);
  register_encoder_components(r);
}

}  // namespace kiln::layers
