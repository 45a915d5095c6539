// Hugging Face config.json <-> kiln decoder spec, and tensor names both ways (the table is in
// hf_checkpoint.h).
#include <set>

#include "core/autograd/autograd.h"
#include "core/ops/index.h"
#include "core/registry/registry.h"
#include "dsl/hf_checkpoint.h"

namespace kiln::hf {

namespace {

// The numbers both directions need, read from config.json.
struct Arch {
  std::string type;  // "gpt2" or "llama"
  int64_t vocab = 0, d = 0, layers = 0, heads = 0, kv_heads = 0, head_dim = 0, d_mlp = 0;
  int64_t context = 0;
  bool tie = true;
};

// config.json's value of key, or fallback when absent or null (Hugging Face writes nulls).
const Config* value(const Config& c, const std::string& key) {
  const Config* v = c.find(key);
  return v && !v->is_null() ? v : nullptr;
}
int64_t int_of(const Config& c, const std::string& key, std::optional<int64_t> fallback,
               const std::string& where) {
  if (const Config* v = value(c, key)) {
    KILN_CHECK(v->type() == Config::Type::integer && v->as_int() >= 1, where, ": \"", key,
               "\" must be a positive integer, got ", v->to_json(false));
    return v->as_int();
  }
  KILN_CHECK(fallback, where, ": \"", key, "\" is missing");
  return *fallback;
}
double number_of(const Config& c, const std::string& key, double fallback) {
  const Config* v = value(c, key);
  return v ? v->as_number() : fallback;
}
bool bool_of(const Config& c, const std::string& key, bool fallback) {
  const Config* v = value(c, key);
  return v ? v->as_bool() : fallback;
}
std::string string_of(const Config& c, const std::string& key, const std::string& fallback) {
  const Config* v = value(c, key);
  return v ? v->as_string() : fallback;
}

std::string model_type(const Config& c, const std::string& where) {
  KILN_CHECK(c.is_table(), where, ": expected a JSON object");
  std::string t = string_of(c, "model_type", "");
  if (t.empty())
    if (const Config* a = value(c, "architectures"); a && a->is_list() && a->size() > 0) {
      const std::string arch = (*a)[0].as_string();
      if (arch == "GPT2LMHeadModel") t = "gpt2";
      if (arch == "LlamaForCausalLM") t = "llama";
    }
  KILN_CHECK(t == "gpt2" || t == "llama", where, ": model_type \"", t,
             "\" is not supported (kiln reads \"gpt2\" and \"llama\" checkpoints)");
  return t;
}

Arch arch_of(const Config& c, const std::string& where) {
  Arch a;
  a.type = model_type(c, where);
  if (a.type == "gpt2") {
    a.vocab = int_of(c, "vocab_size", 50257, where);
    a.d = int_of(c, "n_embd", 768, where);
    a.layers = int_of(c, "n_layer", 12, where);
    a.heads = a.kv_heads = int_of(c, "n_head", 12, where);
    a.d_mlp = int_of(c, "n_inner", 4 * a.d, where);
    a.context = int_of(c, "n_positions", 1024, where);
    a.tie = bool_of(c, "tie_word_embeddings", true);
    KILN_CHECK(a.d % a.heads == 0, where, ": n_embd (", a.d, ") is not a multiple of n_head (",
               a.heads, ")");
    a.head_dim = a.d / a.heads;
    KILN_CHECK(bool_of(c, "scale_attn_weights", true), where,
               ": scale_attn_weights = false is not supported (kiln scales by 1/sqrt(head_dim))");
    KILN_CHECK(!bool_of(c, "scale_attn_by_inverse_layer_idx", false), where,
               ": scale_attn_by_inverse_layer_idx is not supported");
    KILN_CHECK(!bool_of(c, "add_cross_attention", false), where,
               ": add_cross_attention is not supported (a decoder-only GPT-2 is)");
  } else {
    a.vocab = int_of(c, "vocab_size", 32000, where);
    a.d = int_of(c, "hidden_size", 4096, where);
    a.layers = int_of(c, "num_hidden_layers", 32, where);
    a.heads = int_of(c, "num_attention_heads", 32, where);
    a.kv_heads = int_of(c, "num_key_value_heads", a.heads, where);
    KILN_CHECK(a.heads % a.kv_heads == 0, where, ": num_attention_heads (", a.heads,
               ") is not a multiple of num_key_value_heads (", a.kv_heads, ")");
    std::optional<int64_t> hd;
    if (a.d % a.heads == 0) hd = a.d / a.heads;
    a.head_dim = int_of(c, "head_dim", hd, where);
    a.d_mlp = int_of(c, "intermediate_size", 11008, where);
    a.context = int_of(c, "max_position_embeddings", 2048, where);
    a.tie = bool_of(c, "tie_word_embeddings", false);
    const std::string act = string_of(c, "hidden_act", "silu");
    KILN_CHECK(act == "silu", where, ": hidden_act \"", act,
               "\" is not supported (LLaMA's MLP is SwiGLU: \"silu\")");
    KILN_CHECK(!bool_of(c, "attention_bias", false) && !bool_of(c, "mlp_bias", false), where,
               ": attention_bias / mlp_bias are not supported (kiln's LLaMA has no biases)");
    KILN_CHECK(!value(c, "rope_scaling"), where,
               ": rope_scaling is not supported (plain RoPE with rope_theta is)");
  }
  return a;
}

Config component(const std::string& kind, const std::string& name) {
  Config c = Config::table();
  c.set_component(kind, name);
  return c;
}

// One kiln parameter and the Hugging Face tensors it is made of: one, or several stacked along
// dim 0 (LLaMA's q, k, v), possibly transposed (GPT-2's Conv1D stores [in, out]).
struct Rule {
  std::string kiln;
  std::vector<std::string> hf;
  std::vector<Shape> hf_shape;
  bool transpose = false;
};

// The rules of a checkpoint; `prefix` is GPT-2's "transformer." (or "" in files saved from a
// bare GPT2Model, as the original gpt2 repository's model.safetensors is).
std::vector<Rule> rules(const Arch& a, const std::string& prefix) {
  std::vector<Rule> r;
  auto one = [&](std::string kiln, std::string hf, Shape shape, bool transpose = false) {
    r.push_back({std::move(kiln), {std::move(hf)}, {std::move(shape)}, transpose});
  };
  const int64_t d = a.d, F = a.d_mlp, q = a.heads * a.head_dim, kv = a.kv_heads * a.head_dim;
  if (a.type == "gpt2") {
    const std::string p = prefix;
    one("wte.weight", p + "wte.weight", Shape({a.vocab, d}));
    one("wpe.weight", p + "wpe.weight", Shape({a.context, d}));
    for (int64_t i = 0; i < a.layers; ++i) {
      const std::string k = "blocks." + std::to_string(i) + ".",
                        h = p + "h." + std::to_string(i) + ".";
      for (const char* x : {"weight", "bias"}) {
        one(k + "ln1." + x, h + "ln_1." + x, Shape({d}));
        one(k + "ln2." + x, h + "ln_2." + x, Shape({d}));
      }
      one(k + "attn.c_attn.weight", h + "attn.c_attn.weight", Shape({d, 3 * d}), true);
      one(k + "attn.c_attn.bias", h + "attn.c_attn.bias", Shape({3 * d}));
      one(k + "attn.c_proj.weight", h + "attn.c_proj.weight", Shape({d, d}), true);
      one(k + "attn.c_proj.bias", h + "attn.c_proj.bias", Shape({d}));
      one(k + "mlp.c_fc.weight", h + "mlp.c_fc.weight", Shape({d, F}), true);
      one(k + "mlp.c_fc.bias", h + "mlp.c_fc.bias", Shape({F}));
      one(k + "mlp.c_proj.weight", h + "mlp.c_proj.weight", Shape({F, d}), true);
      one(k + "mlp.c_proj.bias", h + "mlp.c_proj.bias", Shape({d}));
    }
    one("ln_final.weight", p + "ln_f.weight", Shape({d}));
    one("ln_final.bias", p + "ln_f.bias", Shape({d}));
  } else {
    one("wte.weight", "model.embed_tokens.weight", Shape({a.vocab, d}));
    for (int64_t i = 0; i < a.layers; ++i) {
      const std::string k = "blocks." + std::to_string(i) + ".",
                        h = "model.layers." + std::to_string(i) + ".";
      one(k + "ln1.weight", h + "input_layernorm.weight", Shape({d}));
      r.push_back({k + "attn.c_attn.weight",
                   {h + "self_attn.q_proj.weight", h + "self_attn.k_proj.weight",
                    h + "self_attn.v_proj.weight"},
                   {Shape({q, d}), Shape({kv, d}), Shape({kv, d})},
                   false});
      one(k + "attn.c_proj.weight", h + "self_attn.o_proj.weight", Shape({d, q}));
      one(k + "ln2.weight", h + "post_attention_layernorm.weight", Shape({d}));
      one(k + "mlp.gate_proj.weight", h + "mlp.gate_proj.weight", Shape({F, d}));
      one(k + "mlp.up_proj.weight", h + "mlp.up_proj.weight", Shape({F, d}));
      one(k + "mlp.down_proj.weight", h + "mlp.down_proj.weight", Shape({d, F}));
    }
    one("ln_final.weight", "model.norm.weight", Shape({d}));
  }
  if (!a.tie) one("lm_head.weight", "lm_head.weight", Shape({a.vocab, d}));
  return r;
}

// Tensors of Hugging Face checkpoints that are not parameters: GPT-2's causal-mask buffers,
// LLaMA's rotary frequencies (older transformers saved both), a tied head's copy.
bool skippable(const Arch& a, const std::string& name) {
  auto ends_with = [&](const std::string& s) {
    return name.size() >= s.size() && name.compare(name.size() - s.size(), s.size(), s) == 0;
  };
  if (a.type == "gpt2" && (ends_with(".attn.bias") || ends_with(".attn.masked_bias"))) return true;
  if (ends_with("rotary_emb.inv_freq")) return true;
  return a.tie && name == "lm_head.weight";
}

}  // namespace

Config model_spec(const Config& hf_config, const std::string& config_path) {
  const Arch a = arch_of(hf_config, config_path);
  Config m = component("model", "decoder");
  m.set("vocab", Config(a.vocab));
  m.set("d_model", Config(a.d));
  m.set("n_layers", Config(a.layers));
  m.set("n_heads", Config(a.heads));
  m.set("d_mlp", Config(a.d_mlp));
  m.set("context", Config(a.context));
  m.set("dropout", Config(0.0));
  m.set("norm_position", Config("pre"));
  m.set("tie_embeddings", Config(a.tie));
  m.set("init_std", Config(number_of(hf_config, "initializer_range", 0.02)));
  if (a.type == "gpt2") {
    const std::string act = string_of(hf_config, "activation_function", "gelu_new");
    std::string kiln_act;
    if (act == "gelu_new" || act == "gelu_pytorch_tanh") kiln_act = "gelu_tanh";
    if (act == "gelu" || act == "relu") kiln_act = act;
    KILN_CHECK(!kiln_act.empty(), config_path, ": activation_function \"", act,
               "\" is not supported (gelu_new, gelu_pytorch_tanh, gelu and relu are)");
    m.set("activation", Config(kiln_act));
    m.set("bias", Config(true));
    Config norm = component("layer", "layer_norm");
    norm.set("eps", Config(number_of(hf_config, "layer_norm_epsilon", 1e-5)));
    m.set("norm", norm);
    m.set("pos", component("layer", "learned"));
    m.set("init", Config("gpt2"));
  } else {
    m.set("n_kv_heads", Config(a.kv_heads));
    if (a.head_dim * a.heads != a.d) m.set("head_dim", Config(a.head_dim));
    m.set("activation", Config("swiglu"));
    m.set("bias", Config(false));
    Config norm = component("layer", "rms_norm");
    norm.set("eps", Config(number_of(hf_config, "rms_norm_eps", 1e-6)));
    m.set("norm", norm);
    Config rope = component("layer", "rope");
    rope.set("theta", Config(number_of(hf_config, "rope_theta", 10000.0)));
    m.set("pos", rope);
    m.set("init", Config("llama"));
  }
  m.set_loc(SourceLoc{config_path, 0, ""});
  m.set_path("model");
  std::vector<std::string> errors = Registry::global().validate(m);
  if (!errors.empty()) {
    std::string msg = config_path + ": the kiln spec made from it does not validate:";
    for (const std::string& e : errors) msg += "\n  " + e;
    throw Error(msg);
  }
  return m;
}

Config config_for(const Config& spec, const nn::StateDict& weights) {
  const std::string who = "Hugging Face export";
  KILN_CHECK(
      spec.is_component() && spec.component_name() == "decoder", who,
      ": only decoder models are exported, got ",
      spec.is_component() ? spec.component_kind() + "." + spec.component_name() : spec.type_name());
  auto name_of = [&](const std::string& key) {
    const Config* c = spec.find(key);
    return c && c->is_component() ? c->component_name() : std::string();
  };
  const std::string norm = name_of("norm"), pos = name_of("pos");
  const Config* act_c = spec.find("activation");
  const std::string act = act_c && act_c->type() == Config::Type::string ? act_c->as_string() : "";
  const bool bias = spec.get<bool>("bias", true), tie = spec.get<bool>("tie_embeddings", true);
  const std::string shape = "norm " + norm + ", pos " + pos + ", activation \"" + act +
                            "\", bias " + (bias ? "true" : "false");
  std::string type;
  if (norm == "layer_norm" && pos == "learned" && bias &&
      (act == "gelu_tanh" || act == "gelu" || act == "relu"))
    type = "gpt2";
  if (norm == "rms_norm" && pos == "rope" && !bias && act == "swiglu") type = "llama";
  KILN_CHECK(!type.empty(), who, ": the model is neither GPT-2-shaped (layer_norm, learned, ",
             "gelu_tanh/gelu/relu, bias true) nor LLaMA-shaped (rms_norm, rope, swiglu, bias ",
             "false): it has ", shape);
  // Settings the Hugging Face architectures have no counterpart for.
  KILN_CHECK(spec.get<std::string>("norm_position", "pre") == "pre", who, ": post-norm blocks");
  KILN_CHECK(spec.get<bool>("final_norm", true), who, ": a model without a final norm");
  KILN_CHECK(!spec.get<bool>("attn_only", false), who, ": attention-only blocks");
  const Config* blocks = spec.find("blocks");
  KILN_CHECK(!blocks || blocks->is_null() || (blocks->is_list() && blocks->size() == 0), who,
             ": blocks that differ by layer (`blocks = {...}`)");
  if (const Config* b = spec.find("block"); b && b->is_table())
    if (const Config* at = b->find("attn"); at && at->is_table()) {
      KILN_CHECK(at->get<int64_t>("window", 0) == 0, who, ": sliding-window attention");
      KILN_CHECK(!at->get<bool>("qk_norm", false), who, ": qk-norm");
      const Config* sc = at->find("scale");
      KILN_CHECK(!sc || sc->is_null(), who, ": a custom attention scale");
    }
  if (pos == "rope")
    KILN_CHECK(spec.at("pos").get<double>("fraction", 1.0) == 1.0, who,
               ": partial rotary embeddings (rope fraction < 1)");

  auto find = [&](const std::string& name) -> const Tensor& {
    auto it = weights.find(name);
    KILN_CHECK(it != weights.end(), who, ": the model has no parameter '", name, "'");
    return it->second;
  };
  Arch a;
  a.type = type;
  a.vocab = find("wte.weight").size(0);
  a.d = find("wte.weight").size(1);
  while (weights.count("blocks." + std::to_string(a.layers) + ".ln1.weight")) ++a.layers;
  a.heads = spec.get<int64_t>("n_heads", 0);
  KILN_CHECK(a.heads >= 1, who, ": the spec sets no n_heads");
  const Config* kvh = spec.find("n_kv_heads");
  a.kv_heads = kvh && !kvh->is_null() ? kvh->as_int() : a.heads;
  const Config* hd = spec.find("head_dim");
  a.head_dim = hd && !hd->is_null() ? hd->as_int() : a.d / a.heads;
  a.d_mlp =
      find(type == "gpt2" ? "blocks.0.mlp.c_fc.weight" : "blocks.0.mlp.gate_proj.weight").size(0);
  a.context = spec.get<int64_t>("context", 1024);
  a.tie = tie;
  if (type == "gpt2")
    KILN_CHECK(a.kv_heads == a.heads && a.head_dim * a.heads == a.d, who,
               ": GPT-2 has neither grouped-query attention nor a head_dim other than d/n_heads");

  Config c = Config::table();
  const double eps = spec.at("norm").get<double>("eps", type == "gpt2" ? 1e-5 : 1e-6);
  const double init_std = spec.get<double>("init_std", 0.02);
  if (type == "gpt2") {
    c.set("architectures", Config::list({Config("GPT2LMHeadModel")}));
    c.set("model_type", Config("gpt2"));
    c.set("vocab_size", Config(a.vocab));
    c.set("n_embd", Config(a.d));
    c.set("n_layer", Config(a.layers));
    c.set("n_head", Config(a.heads));
    c.set("n_inner", Config(a.d_mlp));
    c.set("n_positions", Config(a.context));
    c.set("n_ctx", Config(a.context));
    c.set("activation_function", Config(act == "gelu_tanh" ? "gelu_new" : act));
    c.set("layer_norm_epsilon", Config(eps));
    c.set("resid_pdrop", Config(0.0));
    c.set("embd_pdrop", Config(0.0));
    c.set("attn_pdrop", Config(0.0));
    c.set("scale_attn_weights", Config(true));
  } else {
    c.set("architectures", Config::list({Config("LlamaForCausalLM")}));
    c.set("model_type", Config("llama"));
    c.set("vocab_size", Config(a.vocab));
    c.set("hidden_size", Config(a.d));
    c.set("intermediate_size", Config(a.d_mlp));
    c.set("num_hidden_layers", Config(a.layers));
    c.set("num_attention_heads", Config(a.heads));
    c.set("num_key_value_heads", Config(a.kv_heads));
    c.set("head_dim", Config(a.head_dim));
    c.set("max_position_embeddings", Config(a.context));
    c.set("hidden_act", Config("silu"));
    c.set("rms_norm_eps", Config(eps));
    c.set("rope_theta", Config(spec.at("pos").get<double>("theta", 10000.0)));
    c.set("rope_scaling", Config());
    c.set("attention_bias", Config(false));
    c.set("mlp_bias", Config(false));
  }
  c.set("initializer_range", Config(init_std));
  c.set("tie_word_embeddings", Config(tie));
  return c;
}

nn::StateDict to_kiln(const Config& hf_config, const Weights& w, DType dtype) {
  const Arch a = arch_of(hf_config, "config.json");
  std::string prefix;
  if (a.type == "gpt2")
    for (const auto& [name, t] : w.tensors)
      if (name.rfind("transformer.", 0) == 0) prefix = "transformer.";
  auto file = [&](const std::string& name) {
    auto it = w.file_of.find(name);
    return it != w.file_of.end() ? it->second : w.source;
  };
  autograd::NoGrad no_grad;
  nn::StateDict out;
  std::set<std::string> used;
  for (const Rule& r : rules(a, prefix)) {
    std::vector<Tensor> parts;
    for (size_t i = 0; i < r.hf.size(); ++i) {
      auto it = w.tensors.find(r.hf[i]);
      KILN_CHECK(it != w.tensors.end(), w.source, ": no tensor '", r.hf[i], "' (a ", a.type,
                 " checkpoint with this config.json has one of shape ", shape_str(r.hf_shape[i]),
                 ")");
      KILN_CHECK(it->second.shape() == r.hf_shape[i], file(r.hf[i]), ": tensor '", r.hf[i],
                 "' has shape ", shape_str(it->second.shape()), "; config.json implies ",
                 shape_str(r.hf_shape[i]));
      KILN_CHECK(is_floating(it->second.dtype()), file(r.hf[i]), ": tensor '", r.hf[i], "' is ",
                 dtype_name(it->second.dtype()), ", not a floating type");
      parts.push_back(it->second);
      used.insert(r.hf[i]);
    }
    Tensor t = parts.size() == 1 ? parts[0] : ops::concat(parts, 0);
    if (r.transpose) t = t.transpose(0, 1);
    t = t.to(dtype).contiguous();
    out[r.kiln] = t;
  }
  for (const auto& [name, t] : w.tensors)
    KILN_CHECK(used.count(name) || skippable(a, name), file(name), ": tensor '", name,
               "' is not a parameter of the ", a.type, " model config.json describes (", a.layers,
               " layers", a.tie ? ", tied head" : "", ")");
  return out;
}

safetensors::TensorMap from_kiln(const Config& hf_config, const nn::StateDict& weights) {
  const Arch a = arch_of(hf_config, "config.json");
  autograd::NoGrad no_grad;
  safetensors::TensorMap out;
  std::set<std::string> used;
  for (const Rule& r : rules(a, a.type == "gpt2" ? "transformer." : "")) {
    auto it = weights.find(r.kiln);
    KILN_CHECK(it != weights.end(), "Hugging Face export: the model has no parameter '", r.kiln,
               "'");
    used.insert(r.kiln);
    Tensor t = it->second;
    if (r.transpose) t = t.transpose(0, 1);
    int64_t row = 0;
    for (size_t i = 0; i < r.hf.size(); ++i) {
      Tensor part = r.hf.size() == 1 ? t : t.narrow(0, row, r.hf_shape[i][0]);
      row += r.hf_shape[i][0];
      KILN_CHECK(part.shape() == r.hf_shape[i], "Hugging Face export: parameter '", r.kiln,
                 "' gives '", r.hf[i], "' the shape ", shape_str(part.shape()), ", expected ",
                 shape_str(r.hf_shape[i]));
      out[r.hf[i]] = part.contiguous();
    }
  }
  for (const auto& [name, t] : weights)
    KILN_CHECK(used.count(name), "Hugging Face export: parameter '", name,
               "' has no counterpart in a ", a.type, " checkpoint");
  return out;
}

}  // namespace kiln::hf
