// Hugging Face checkpoints (dsl/hf_checkpoint.h): a GPT-2-layout directory written here by hand
// (Hugging Face's names, Conv1D weights transposed as it stores them) loads into the model
// models/gpt2.lua builds and gives the same logits; kiln -> HF -> kiln is exact for GPT-2 and
// LLaMA; shards are read through model.safetensors.index.json; mistakes are named; and the
// kiln program exports and generates from such directories.
#include <gtest/gtest.h>

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "core/autograd/autograd.h"
#include "core/io/safetensors.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "core/tensor/factory.h"
#include "core/tensor/random.h"
#include "dsl/hf_checkpoint.h"
#include "dsl/spec.h"

namespace kiln {
namespace {

namespace fs = std::filesystem;

fs::path scratch(const std::string& name) {
  fs::path p =
      fs::temp_directory_path() / ("kiln_hf_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

void write(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary);
  out << text;
}

std::string read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// A model built from one of this folder's specs (through models/*.lua), every parameter then
// drawn from normal(0, 0.5) so that norms and biases are not their initial ones and 1s.
std::shared_ptr<nn::Model> native(const std::string& spec_file, Config* spec_out = nullptr) {
  load_default_plugins();
  Config spec = dsl::evaluate_spec(std::string(KILN_HF_TEST_DIR) + "/" + spec_file);
  Config model = spec.at("model");
  std::vector<std::string> errors = Registry::global().validate(model);
  EXPECT_TRUE(errors.empty());
  auto m = Registry::global().create<nn::Model>(model);
  Generator gen(7);
  autograd::NoGrad no_grad;
  for (auto& [name, p] : m->named_parameters())
    p.copy_(randn(p.shape(), p.dtype(), &gen, 0.0, 0.5));
  m->eval();
  if (spec_out) *spec_out = model;
  return m;
}

std::vector<float> logits_of(nn::Model& m) {
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 2 * 16; ++i) ids.push_back((i * 37 + 11) % 259);
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  return m.forward(from_vector(ids, {2, 16}), state).to_vector<float>();
}

bool same_bits(const Tensor& a, const Tensor& b) {
  if (a.shape() != b.shape() || a.dtype() != b.dtype()) return false;
  Tensor x = a.contiguous(), y = b.contiguous();
  return std::memcmp(x.data_ptr(), y.data_ptr(), x.nbytes()) == 0;
}

// GPT-2's printable spelling of the bytes (bytes_to_unicode in its encoder.py), as UTF-8.
std::vector<std::string> byte_spellings() {
  std::vector<int> bs, cs;
  for (int b = '!'; b <= '~'; ++b) bs.push_back(b);
  for (int b = 0xA1; b <= 0xAC; ++b) bs.push_back(b);
  for (int b = 0xAE; b <= 0xFF; ++b) bs.push_back(b);
  cs = bs;
  int n = 0;
  for (int b = 0; b < 256; ++b)
    if (std::find(bs.begin(), bs.end(), b) == bs.end()) {
      bs.push_back(b);
      cs.push_back(256 + n++);
    }
  std::vector<std::string> out(256);
  for (size_t i = 0; i < bs.size(); ++i) {
    const int c = cs[i];
    std::string s;
    if (c < 0x80) {
      s += char(c);
    } else {
      s += char(0xC0 | (c >> 6));
      s += char(0x80 | (c & 0x3F));
    }
    out[size_t(bs[i])] = s;
  }
  return out;
}

// vocab.json + merges.txt of a byte-level BPE: the 256 bytes (ids 0..255 in byte order), the
// merges "a b" -> "ab" (256) and "ab c" -> "abc" (257), and <|endoftext|> (258).
void write_tokenizer(const fs::path& dir) {
  std::vector<std::string> b = byte_spellings();
  std::string v = "{";
  for (int i = 0; i < 256; ++i) {
    std::string s = b[size_t(i)];
    if (s == "\"" || s == "\\") s = "\\" + s;
    v += "\"" + s + "\": " + std::to_string(i) + ", ";
  }
  v += "\"ab\": 256, \"abc\": 257, \"<|endoftext|>\": 258}";
  write(dir / "vocab.json", v);
  write(dir / "merges.txt", "#version: 0.2\na b\nab c\n");
}

const char* kGpt2Config = R"({
  "_name_or_path": "tiny-gpt2",
  "activation_function": "gelu_new",
  "architectures": ["GPT2LMHeadModel"],
  "attn_pdrop": 0.1,
  "bos_token_id": 258,
  "embd_pdrop": 0.1,
  "eos_token_id": 258,
  "initializer_range": 0.02,
  "layer_norm_epsilon": 1e-05,
  "model_type": "gpt2",
  "n_ctx": 16,
  "n_embd": 32,
  "n_head": 4,
  "n_inner": null,
  "n_layer": 2,
  "n_positions": 16,
  "reorder_and_upcast_attn": false,
  "resid_pdrop": 0.1,
  "scale_attn_by_inverse_layer_idx": false,
  "scale_attn_weights": true,
  "summary_type": "cls_index",
  "torch_dtype": "float32",
  "transformers_version": "4.40.0",
  "use_cache": true,
  "vocab_size": 260
})";

// The tensors of GPT2LMHeadModel's state dict, written from kiln's by hand (independently of
// dsl/hf_mapping.cpp): transformer.* names, Conv1D weights [in, out], the causal-mask buffers
// older versions saved, and no lm_head (tied).
safetensors::TensorMap gpt2_hf_tensors(const nn::StateDict& k) {
  safetensors::TensorMap t;
  t["transformer.wte.weight"] = k.at("wte.weight");
  t["transformer.wpe.weight"] = k.at("wpe.weight");
  t["transformer.ln_f.weight"] = k.at("ln_final.weight");
  t["transformer.ln_f.bias"] = k.at("ln_final.bias");
  for (int i = 0; i < 2; ++i) {
    const std::string s = "blocks." + std::to_string(i) + ".",
                      h = "transformer.h." + std::to_string(i) + ".";
    for (const char* x : {".weight", ".bias"}) {
      t[h + "ln_1" + x] = k.at(s + "ln1" + x);
      t[h + "ln_2" + x] = k.at(s + "ln2" + x);
    }
    for (const char* conv : {"attn.c_attn", "attn.c_proj", "mlp.c_fc", "mlp.c_proj"}) {
      t[h + conv + ".weight"] = k.at(s + conv + ".weight").transpose(0, 1).contiguous();
      t[h + conv + ".bias"] = k.at(s + conv + ".bias");
    }
    t[h + "attn.bias"] = zeros({1, 1, 16, 16}, DType::u8);
  }
  return t;
}
safetensors::TensorMap gpt2_hf_tensors(const nn::Model& m) {
  return gpt2_hf_tensors(m.state_dict());
}

fs::path write_gpt2_dir(const std::string& name, const nn::Model& m) {
  fs::path d = scratch(name);
  write(d / "config.json", kGpt2Config);
  safetensors::write((d / "model.safetensors").string(), gpt2_hf_tensors(m), {{"format", "pt"}});
  write_tokenizer(d);
  return d;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(HfCheckpoint, Gpt2LayoutWrittenByHandGivesTheNativeLogits) {
  auto m = native("gpt2_tiny.lua");
  fs::path d = write_gpt2_dir("gpt2", *m);
  // As Hugging Face stores it: c_attn's Conv1D weight is [in, out] = [32, 96].
  EXPECT_EQ(safetensors::read((d / "model.safetensors").string())
                .tensors.at("transformer.h.0.attn.c_attn.weight")
                .shape(),
            Shape({32, 96}));
  train::LoadedRun r = hf::load(d.string());
  EXPECT_EQ(logits_of(*r.model), logits_of(*m));  // the same weights, the same function: exact
  nn::StateDict a = r.model->state_dict(), b = m->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : b) EXPECT_TRUE(same_bits(a.at(name), t)) << name;
  EXPECT_EQ(r.model->context_length(), 16);
  // The tokenizer from vocab.json + merges.txt: "abc" merges to 257, <|endoftext|> is 258.
  EXPECT_EQ(r.tokenizer->encode("abcx"), (std::vector<int32_t>{257, int32_t('x')}));
  EXPECT_EQ(r.tokenizer->eos_id(), std::optional<int32_t>(258));
  fs::remove_all(d);
}

// The original GPT-2 repository's model.safetensors was saved from a bare GPT2Model: the same
// names without "transformer.".
TEST(HfCheckpoint, Gpt2NamesWithoutTheTransformerPrefix) {
  auto m = native("gpt2_tiny.lua");
  fs::path d = write_gpt2_dir("gpt2_bare", *m);
  safetensors::TensorMap bare;
  for (const auto& [name, t] : gpt2_hf_tensors(*m)) bare[name.substr(12)] = t;
  ASSERT_TRUE(bare.count("h.0.attn.c_attn.weight"));
  safetensors::write((d / "model.safetensors").string(), bare);
  EXPECT_EQ(logits_of(*hf::load(d.string()).model), logits_of(*m));
  fs::remove_all(d);
}

TEST(HfCheckpoint, Gpt2KilnToHfToKilnIsExact) {
  Config spec;
  auto m = native("gpt2_tiny.lua", &spec);
  fs::path d = scratch("gpt2_roundtrip");
  // The model's spec as a run's spec.json holds it (resolved, components tagged in JSON).
  hf::save(d.string(), Config::from_json(spec.to_json(true), "spec.json"), *m, nullptr);
  write_tokenizer(d);
  const Config cfg = hf::read_config(d.string());
  EXPECT_EQ(cfg.get<std::string>("model_type"), "gpt2");
  EXPECT_EQ(cfg.get<std::string>("activation_function"), "gelu_new");
  EXPECT_EQ(cfg.get<int64_t>("n_embd"), 32);
  EXPECT_EQ(cfg.get<int64_t>("n_positions"), 16);
  EXPECT_TRUE(cfg.get<bool>("tie_word_embeddings"));
  safetensors::File f = safetensors::read((d / "model.safetensors").string());
  EXPECT_FALSE(f.tensors.count("lm_head.weight"));  // tied, as save_pretrained writes it
  EXPECT_TRUE(same_bits(f.tensors.at("transformer.h.1.mlp.c_fc.weight"),
                        m->state_dict().at("blocks.1.mlp.c_fc.weight").transpose(0, 1)));
  train::LoadedRun r = hf::load(d.string());
  nn::StateDict a = r.model->state_dict(), b = m->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : b) EXPECT_TRUE(same_bits(a.at(name), t)) << name;
  EXPECT_EQ(logits_of(*r.model), logits_of(*m));
  fs::remove_all(d);
}

TEST(HfCheckpoint, LlamaKilnToHfToKilnIsExact) {
  Config spec;
  auto m = native("llama_tiny.lua", &spec);
  fs::path d = scratch("llama");
  hf::save(d.string(), Config::from_json(spec.to_json(true), "spec.json"), *m, nullptr);
  write_tokenizer(d);
  const Config cfg = hf::read_config(d.string());
  EXPECT_EQ(cfg.get<std::string>("model_type"), "llama");
  EXPECT_EQ(cfg.get<int64_t>("num_key_value_heads"), 2);
  EXPECT_EQ(cfg.get<int64_t>("intermediate_size"), 96);
  EXPECT_EQ(cfg.get<double>("rope_theta"), 500000.0);
  EXPECT_FALSE(cfg.get<bool>("tie_word_embeddings"));
  // q, k and v are kiln's fused rows in that order: 4 query heads of 8, then 2 key, 2 value.
  safetensors::File f = safetensors::read((d / "model.safetensors").string());
  const Tensor qkv = m->state_dict().at("blocks.1.attn.c_attn.weight");
  EXPECT_TRUE(
      same_bits(f.tensors.at("model.layers.1.self_attn.q_proj.weight"), qkv.narrow(0, 0, 32)));
  EXPECT_TRUE(
      same_bits(f.tensors.at("model.layers.1.self_attn.k_proj.weight"), qkv.narrow(0, 32, 16)));
  EXPECT_TRUE(
      same_bits(f.tensors.at("model.layers.1.self_attn.v_proj.weight"), qkv.narrow(0, 48, 16)));
  EXPECT_TRUE(f.tensors.count("lm_head.weight"));
  EXPECT_TRUE(f.tensors.count("model.norm.weight"));
  EXPECT_TRUE(f.tensors.count("model.layers.0.post_attention_layernorm.weight"));
  train::LoadedRun r = hf::load(d.string());
  nn::StateDict a = r.model->state_dict(), b = m->state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : b) EXPECT_TRUE(same_bits(a.at(name), t)) << name;
  EXPECT_EQ(logits_of(*r.model), logits_of(*m));
  // Written again from the loaded model: the same file, byte for byte.
  fs::path d2 = scratch("llama2");
  hf::save(d2.string(), r.spec.at("model"), *r.model, nullptr);
  EXPECT_EQ(read(d2 / "model.safetensors"), read(d / "model.safetensors"));
  fs::remove_all(d);
  fs::remove_all(d2);
}

// tokenizer.json (the `tokenizers` library's file) instead of vocab.json + merges.txt, with the
// merges written either way that library has written them ("a b", and ["a", "b"] since 0.20).
TEST(HfCheckpoint, TokenizerJsonIsReadForByteLevelBpe) {
  auto m = native("gpt2_tiny.lua");
  fs::path d = write_gpt2_dir("tokenizer_json", *m);
  const std::string vocab = read(d / "vocab.json");
  fs::remove(d / "vocab.json");
  fs::remove(d / "merges.txt");
  for (const char* merges : {R"(["a b", "ab c"])", R"([["a", "b"], ["ab", "c"]])"}) {
    write(d / "tokenizer.json",
          std::string(R"({"version": "1.0", "added_tokens": [{"id": 258, "content": "<|endoftext|>",
            "special": true}], "normalizer": null,
            "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true},
            "decoder": {"type": "ByteLevel"},
            "model": {"type": "BPE", "dropout": null, "unk_token": null, "vocab": )") +
              vocab + R"(, "merges": )" + merges + "}}");
    train::LoadedRun r = hf::load(d.string());
    EXPECT_EQ(r.tokenizer->encode("abcx ab"),
              (std::vector<int32_t>{257, int32_t('x'), int32_t(' '), 256}))
        << merges;
    EXPECT_EQ(r.tokenizer->eos_id(), std::optional<int32_t>(258));
  }
  // A tokenizer.json of another kind (WordPiece) is refused, naming the file.
  write(d / "tokenizer.json", R"({"model": {"type": "WordPiece", "vocab": {}}})");
  const std::string e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find("tokenizer.json: not a BPE tokenizer"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(HfCheckpoint, ShardsAreReadThroughTheIndex) {
  auto m = native("gpt2_tiny.lua");
  fs::path d = scratch("sharded");
  write(d / "config.json", kGpt2Config);
  write_tokenizer(d);
  safetensors::TensorMap all = gpt2_hf_tensors(*m), s1, s2;
  std::string map;
  for (const auto& [name, t] : all) {
    const bool first = name.find(".h.1.") == std::string::npos;
    (first ? s1 : s2)[name] = t;
    map += std::string(map.empty() ? "" : ",\n") + "    \"" + name + "\": \"model-0000" +
           (first ? "1" : "2") + "-of-00002.safetensors\"";
  }
  safetensors::write((d / "model-00001-of-00002.safetensors").string(), s1);
  safetensors::write((d / "model-00002-of-00002.safetensors").string(), s2);
  write(d / "model.safetensors.index.json",
        "{\n  \"metadata\": {\"total_size\": 0},\n  \"weight_map\": {\n" + map + "\n  }\n}\n");
  train::LoadedRun r = hf::load(d.string());
  EXPECT_EQ(logits_of(*r.model), logits_of(*m));

  // A tensor the index places in a shard that lacks it: the shard and the tensor are named.
  s2.erase("transformer.h.1.mlp.c_proj.bias");
  safetensors::write((d / "model-00002-of-00002.safetensors").string(), s2);
  const std::string e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find("model-00002-of-00002.safetensors"), std::string::npos) << e;
  EXPECT_NE(e.find("transformer.h.1.mlp.c_proj.bias"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(HfCheckpoint, MistakesAreNamed) {
  auto m = native("gpt2_tiny.lua");
  fs::path d = scratch("errors");
  write(d / "config.json", kGpt2Config);
  write_tokenizer(d);
  const std::string file = (d / "model.safetensors").string();

  // A missing tensor: the file and the tensor, with the shape it should have.
  safetensors::TensorMap t = gpt2_hf_tensors(*m);
  t.erase("transformer.h.1.mlp.c_fc.bias");
  safetensors::write(file, t);
  std::string e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("'transformer.h.1.mlp.c_fc.bias'"), std::string::npos) << e;
  EXPECT_NE(e.find("[128]"), std::string::npos) << e;

  // A Conv1D weight left in kiln's [out, in] layout: both shapes.
  t = gpt2_hf_tensors(*m);
  t["transformer.h.0.attn.c_attn.weight"] = m->state_dict().at("blocks.0.attn.c_attn.weight");
  safetensors::write(file, t);
  e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find(file), std::string::npos) << e;
  EXPECT_NE(e.find("'transformer.h.0.attn.c_attn.weight' has shape [96, 32]"), std::string::npos)
      << e;
  EXPECT_NE(e.find("[32, 96]"), std::string::npos) << e;

  // A tensor no GPT-2 of this config has (a third layer).
  t = gpt2_hf_tensors(*m);
  t["transformer.h.2.ln_1.weight"] = t.at("transformer.h.1.ln_1.weight");
  safetensors::write(file, t);
  e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find("'transformer.h.2.ln_1.weight' is not a parameter"), std::string::npos) << e;

  // An architecture kiln does not read: config.json and the model_type.
  std::string cfg = kGpt2Config;
  cfg.replace(cfg.find("\"gpt2\""), 6, "\"bert\"");
  write(d / "config.json", cfg);
  e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find((d / "config.json").string()), std::string::npos) << e;
  EXPECT_NE(e.find("model_type \"bert\" is not supported"), std::string::npos) << e;

  // No weights at all.
  write(d / "config.json", kGpt2Config);
  fs::remove(file);
  e = error_of([&] { hf::load(d.string()); });
  EXPECT_NE(e.find("no model.safetensors"), std::string::npos) << e;
  fs::remove_all(d);
}

TEST(HfCheckpoint, ExportRefusesModelsWithoutAHuggingFaceLayout) {
  Config spec;
  auto m = native("gpt2_tiny.lua", &spec);
  Config post = spec;
  post.set("norm_position", Config("post"));
  std::string e = error_of([&] { hf::config_for(post, m->state_dict()); });
  EXPECT_NE(e.find("post-norm"), std::string::npos) << e;
  Config rms = spec;
  Config norm = Config::table();
  norm.set_component("layer", "rms_norm");
  rms.set("norm", norm);
  e = error_of([&] { hf::config_for(rms, m->state_dict()); });
  EXPECT_NE(e.find("neither GPT-2-shaped"), std::string::npos) << e;
}

// The whole-model reference fixtures (tests/reference/README.md) through the Hugging Face layout:
// their weights renamed and reshaped here by hand, read back through config.json, give PyTorch's
// logits (same tolerance as the reference test: 1e-4 relative, floor 1e-2 of the largest).
void expect_reference_logits(const std::string& name, const std::string& config,
                             const safetensors::TensorMap& hf_tensors,
                             const safetensors::File& inputs) {
  fs::path d = scratch("reference_" + name);
  write(d / "config.json", config);
  safetensors::write((d / "model.safetensors").string(), hf_tensors);
  const Config cfg = hf::read_config(d.string());
  auto model = Registry::global().create<nn::Model>(hf::model_spec(cfg, "config.json"));
  model->load_state_dict(hf::to_kiln(cfg, hf::read_weights(d.string())));
  model->eval();
  autograd::NoGrad no_grad;
  nn::ForwardState state;
  std::vector<float> got =
      model->forward(inputs.tensors.at("tokens.inputs"), state).to_vector<float>();
  std::vector<float> want =
      safetensors::read(std::string(KILN_REFERENCE_FIXTURES) + "/" + name + ".expected.safetensors")
          .tensors.at("logits")
          .to_vector<float>();
  ASSERT_EQ(got.size(), want.size());
  double scale = 0;
  for (float w : want) scale = std::max(scale, double(std::abs(w)));
  for (size_t i = 0; i < got.size(); ++i)
    ASSERT_LE(std::abs(double(got[i]) - want[i]),
              1e-4 * std::max(double(std::abs(want[i])), 1e-2 * scale))
        << name << " logit " << i;
  fs::remove_all(d);
}

TEST(HfCheckpoint, ReferenceGpt2AndLlamaGivePyTorchLogits) {
  load_default_plugins();
  const std::string dir = KILN_REFERENCE_FIXTURES;
  safetensors::File g = safetensors::read(dir + "/gpt2.inputs.safetensors");
  expect_reference_logits("gpt2", R"({"model_type": "gpt2", "vocab_size": 64, "n_embd": 32,
      "n_layer": 2, "n_head": 4, "n_positions": 16, "n_inner": null,
      "activation_function": "gelu_new", "layer_norm_epsilon": 1e-05})",
                          gpt2_hf_tensors(g.tensors), g);

  safetensors::File l = safetensors::read(dir + "/llama.inputs.safetensors");
  const auto& k = l.tensors;
  safetensors::TensorMap t;
  t["model.embed_tokens.weight"] = k.at("wte.weight");
  t["model.norm.weight"] = k.at("ln_final.weight");
  t["lm_head.weight"] = k.at("lm_head.weight");
  for (int i = 0; i < 2; ++i) {
    const std::string s = "blocks." + std::to_string(i) + ".",
                      h = "model.layers." + std::to_string(i) + ".";
    const Tensor qkv = k.at(s + "attn.c_attn.weight");  // [4 heads of 8; 2 of 8; 2 of 8] rows
    t[h + "self_attn.q_proj.weight"] = qkv.narrow(0, 0, 32).contiguous();
    t[h + "self_attn.k_proj.weight"] = qkv.narrow(0, 32, 16).contiguous();
    t[h + "self_attn.v_proj.weight"] = qkv.narrow(0, 48, 16).contiguous();
    t[h + "self_attn.o_proj.weight"] = k.at(s + "attn.c_proj.weight");
    t[h + "input_layernorm.weight"] = k.at(s + "ln1.weight");
    t[h + "post_attention_layernorm.weight"] = k.at(s + "ln2.weight");
    for (const char* p : {"gate_proj", "up_proj", "down_proj"})
      t[h + "mlp." + p + ".weight"] = k.at(s + "mlp." + p + ".weight");
  }
  expect_reference_logits("llama", R"({"model_type": "llama", "vocab_size": 64, "hidden_size": 32,
      "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
      "intermediate_size": 96, "max_position_embeddings": 16, "rms_norm_eps": 1e-05,
      "rope_theta": 10000.0, "tie_word_embeddings": false, "hidden_act": "silu"})",
                          t, l);
}

// ---- the kiln program ---------------------------------------------------------------------------

int run(const std::string& args, std::string* out = nullptr) {
  const std::string cmd = std::string(KILN_BINARY) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string text;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) text.append(buf, n);
  const int rc = pclose(p);
  if (out) *out = text;
  return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

TEST(HfCheckpointCli, ExportGenerateAndEval) {
  auto m = native("gpt2_tiny.lua");
  fs::path a = write_gpt2_dir("cli_a", *m), b = scratch("cli_b");
  std::string out;
  ASSERT_EQ(run("export hf:" + a.string() + " --hf " + b.string(), &out), 0) << out;
  // Hugging Face layout in, the same layout out: every tensor and the tokenizer unchanged.
  safetensors::TensorMap x = safetensors::read((a / "model.safetensors").string()).tensors,
                         y = safetensors::read((b / "model.safetensors").string()).tensors;
  x.erase("transformer.h.0.attn.bias");
  x.erase("transformer.h.1.attn.bias");
  ASSERT_EQ(x.size(), y.size());
  for (const auto& [name, t] : x) EXPECT_TRUE(same_bits(t, y.at(name))) << name;
  EXPECT_EQ(hf::load(b.string()).tokenizer->encode("abcx"), (std::vector<int32_t>{257, 'x'}));
  EXPECT_TRUE(fs::exists(b / "tokenizer_config.json"));
  EXPECT_EQ(hf::read_config(b.string()).get<int64_t>("eos_token_id"), 258);

  ASSERT_EQ(run("generate hf:" + b.string() + " --prompt abc --max-tokens 4 --temperature 0", &out),
            0)
      << out;
  EXPECT_EQ(out.rfind("abc", 0), 0u) << out;
  EXPECT_NE(run("generate hf:" + b.string() + "/nowhere --prompt abc", &out), 0);
  EXPECT_NE(out.find("nowhere"), std::string::npos) << out;
  // kiln eval on it, with a text of its own (a checkpoint has no dataset to take a split of).
  write(b / "text.txt", "abc ab abcab cab bca\nab abc\n");
  write(b / "suite.lua", "return { perplexity { path = \"" + (b / "text.txt").string() + "\" } }");
  ASSERT_EQ(
      run("eval hf:" + b.string() + " --suite " + (b / "suite.lua").string() + " --no-progress",
          &out),
      0)
      << out;
  EXPECT_NE(out.find("bits_per_byte"), std::string::npos) << out;
  EXPECT_NE(read(b / "results.json").find("\"perplexity\""), std::string::npos);
  write(b / "suite.lua", "return { perplexity {} }");
  EXPECT_EQ(run("eval hf:" + b.string() + " --suite " + (b / "suite.lua").string(), &out), 1);
  EXPECT_NE(out.find("has no dataset"), std::string::npos) << out;
  EXPECT_EQ(run("export --help", &out), 0);
  EXPECT_NE(out.find("--hf"), std::string::npos) << out;
  fs::remove_all(a);
  fs::remove_all(b);
}

}  // namespace
}  // namespace kiln
