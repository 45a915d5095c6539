// Hugging Face checkpoint directories: reading config.json, the (sharded) weights and the
// tokenizer files, and writing them (the mapping itself is in hf_mapping.cpp).
#include "dsl/hf_checkpoint.h"

#include <filesystem>
#include <fstream>
#include <functional>
#include <set>
#include <sstream>

#include "core/io/file.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "core/train/init_weights.h"

namespace kiln::hf {

namespace {

namespace fs = std::filesystem;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  KILN_CHECK(in, path.string(), ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

Config component(const std::string& kind, const std::string& name) {
  Config c = Config::table();
  c.set_component(kind, name);
  return c;
}

// tokenizer.json (the `tokenizers` library's format) holding a byte-level BPE: its vocabulary
// and merges written as GPT-2's encoder.json and vocab.bpe into `out`, which the gpt2 tokenizer
// reads. The strings are the same (byte-level BPE spells bytes with GPT-2's printable map).
void convert_tokenizer_json(const fs::path& file, const fs::path& out) {
  const Config t = Config::from_json(read_text(file), file.string());
  const Config* model = t.find("model");
  KILN_CHECK(model && model->is_table() && model->get<std::string>("type", "") == "BPE",
             file.string(), ": not a BPE tokenizer (model.type must be \"BPE\")");
  const std::string json = t.to_json(false);
  KILN_CHECK(json.find("\"ByteLevel\"") != std::string::npos, file.string(),
             ": not a byte-level BPE (no ByteLevel pre-tokenizer or decoder)");
  const Config& vocab = model->at("vocab");
  KILN_CHECK(vocab.is_table(), file.string(), ": model.vocab must be an object");
  std::string merges = "#version: 0.2\n";
  for (const Config& m : model->at("merges").items()) {
    if (m.is_list()) {
      KILN_CHECK(m.size() == 2, file.string(), ": a merge must be a pair");
      merges += m[0].as_string() + " " + m[1].as_string() + "\n";
    } else {
      merges += m.as_string() + "\n";
    }
  }
  fs::create_directories(out);
  io::write_file_atomically(out / "encoder.json", vocab.to_json(false));
  io::write_file_atomically(out / "vocab.bpe", merges);
}

std::shared_ptr<data::Tokenizer> load_tokenizer(const fs::path& dir) {
  Config tok = component("tokenizer", "gpt2");
  if (fs::exists(dir / "vocab.json") && fs::exists(dir / "merges.txt")) {
    tok.set("encoder_json", Config((dir / "vocab.json").string()));
    tok.set("vocab_bpe", Config((dir / "merges.txt").string()));
  } else if (fs::exists(dir / "tokenizer.json")) {
    // The gpt2 tokenizer reads its files on first use, so they stay (one folder per checkpoint
    // path, rewritten on each load).
    const fs::path out = fs::temp_directory_path() /
                         ("kiln-hf-tokenizer-" +
                          std::to_string(std::hash<std::string>{}(fs::absolute(dir).string())));
    convert_tokenizer_json(dir / "tokenizer.json", out);
    tok.set("encoder_json", Config((out / "encoder.json").string()));
    tok.set("vocab_bpe", Config((out / "vocab.bpe").string()));
  } else {
    KILN_FAIL(dir.string(),
              ": no tokenizer (kiln reads vocab.json + merges.txt, or a byte-level BPE "
              "tokenizer.json)");
  }
  tok.set_path("tokenizer");
  return Registry::global().create<data::Tokenizer>(tok);
}

}  // namespace

bool is_hf_ref(const std::string& ref) {
  return ref.rfind("hf:", 0) == 0;
}

std::string hf_dir(const std::string& ref) {
  return is_hf_ref(ref) ? ref.substr(3) : ref;
}

Config read_config(const std::string& dir) {
  const fs::path p = fs::path(dir) / "config.json";
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), dir, ": no such Hugging Face checkpoint directory");
  KILN_CHECK(fs::exists(p, ec), p.string(),
             ": missing (a Hugging Face checkpoint has config.json)");
  return Config::from_json(read_text(p), p.string());
}

Weights read_weights(const std::string& dir) {
  const fs::path d(dir), index = d / "model.safetensors.index.json",
                         single = d / "model.safetensors";
  Weights w;
  std::error_code ec;
  if (fs::exists(index, ec)) {
    w.source = index.string();
    const Config idx = Config::from_json(read_text(index), index.string());
    const Config* map = idx.is_table() ? idx.find("weight_map") : nullptr;
    KILN_CHECK(map && map->is_table(), index.string(), ": no \"weight_map\" object");
    std::map<std::string, safetensors::File> shards;
    for (const auto& [name, shard] : map->entries()) {
      const std::string file = shard.as_string();
      KILN_CHECK(file.find('/') == std::string::npos && file != ".." && !file.empty(),
                 index.string(), ": shard name \"", file, "\" of '", name,
                 "' is not a file in the checkpoint's folder");
      auto it = shards.find(file);
      if (it == shards.end()) {
        KILN_CHECK(fs::exists(d / file, ec), index.string(), ": shard ", (d / file).string(),
                   " (holding '", name, "') is missing");
        it = shards.emplace(file, safetensors::read((d / file).string())).first;
      }
      auto t = it->second.tensors.find(name);
      KILN_CHECK(t != it->second.tensors.end(), (d / file).string(), ": no tensor '", name, "' (",
                 index.filename().string(), " puts it in this shard)");
      w.tensors[name] = t->second;
      w.file_of[name] = (d / file).string();
    }
    return w;
  }
  KILN_CHECK(fs::exists(single, ec), dir,
             ": no model.safetensors or model.safetensors.index.json (kiln reads safetensors, "
             "not pytorch_model.bin)");
  w.source = single.string();
  w.tensors = safetensors::read(w.source).tensors;
  for (const auto& [name, t] : w.tensors) w.file_of[name] = w.source;
  return w;
}

train::LoadedRun load(const std::string& dir) {
  load_default_plugins();
  train::LoadedRun out;
  out.dir = dir;
  const Config cfg = read_config(dir);
  const std::string config_path = (fs::path(dir) / "config.json").string();
  Config spec = model_spec(cfg, config_path);
  out.model = Registry::global().create<nn::Model>(spec);
  const Weights w = read_weights(dir);
  const nn::StateDict own = out.model->state_dict();
  const DType dtype = own.count("wte.weight") ? own.at("wte.weight").dtype() : DType::f32;
  const nn::StateDict weights = to_kiln(cfg, w, dtype);
  try {
    out.model->load_state_dict(weights, /*strict=*/true);
  } catch (const Error& e) {
    KILN_FAIL(w.source, " does not fit the model ", config_path, " describes: ", e.what());
  }
  out.model->eval();
  out.tokenizer = load_tokenizer(dir);
  KILN_CHECK(out.tokenizer->vocab_size() <= out.model->vocab_size(), dir, ": the tokenizer has ",
             out.tokenizer->vocab_size(), " tokens but config.json's vocab_size is ",
             out.model->vocab_size());
  out.spec = Config::table();
  out.spec.set("model", spec);
  out.checkpoint = dir;
  return out;
}

train::LoadedRun load_run_or_hf(const std::string& ref, const train::LoadRunOptions& options) {
  if (!is_hf_ref(ref)) return train::load_run(ref, options);
  KILN_CHECK(!options.prepare_data, ref,
             ": a Hugging Face checkpoint has no dataset (an evaluator asked for the run's val "
             "split; give it a path to a text instead)");
  KILN_CHECK(options.step < 0, ref, ": a Hugging Face checkpoint has no steps (--step)");
  return load(hf_dir(ref));
}

nn::StateDict read_start_weights(const std::string& ref) {
  return is_hf_ref(ref) ? load(hf_dir(ref)).model->state_dict() : train::read_init_weights(ref);
}

std::vector<std::string> save(const std::string& dir, const Config& model_spec,
                              const nn::Model& model, const data::Tokenizer* tokenizer,
                              const SaveOptions& options) {
  KILN_CHECK(is_floating(options.dtype), "Hugging Face export: the weights' dtype must be ",
             "floating, got ", dtype_name(options.dtype));
  const fs::path d(dir);
  fs::create_directories(d);
  const nn::StateDict weights = model.state_dict();
  Config cfg = config_for(model_spec, weights);
  safetensors::TensorMap tensors = from_kiln(cfg, weights);
  for (auto& [name, t] : tensors) t = t.to(options.dtype);
  cfg.set("torch_dtype", Config(options.dtype == DType::bf16  ? "bfloat16"
                                : options.dtype == DType::f16 ? "float16"
                                : options.dtype == DType::f64 ? "float64"
                                                              : "float32"));

  std::vector<std::string> written;
  if (tokenizer) {
    // Saved into a scratch folder, since a kiln tokenizer's own tokenizer.json is not the
    // `tokenizers` library's; its byte-level BPE files are GPT-2's, under other names.
    const fs::path tmp = d / ".kiln-tokenizer.tmp";
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    tokenizer->save(tmp.string());
    if (fs::exists(tmp / "encoder.json") && fs::exists(tmp / "vocab.bpe")) {
      io::write_file_atomically(d / "vocab.json", read_text(tmp / "encoder.json"));
      io::write_file_atomically(d / "merges.txt", read_text(tmp / "vocab.bpe"));
      Config tc = Config::table();
      tc.set("tokenizer_class", Config("GPT2Tokenizer"));
      tc.set("model_max_length", Config(model.context_length()));
      tc.set("add_prefix_space", Config(false));
      if (std::optional<int32_t> eos = tokenizer->eos_id()) {
        for (const auto& [text, id] : tokenizer->special_tokens())
          if (id == *eos)
            for (const char* k : {"bos_token", "eos_token", "unk_token"}) tc.set(k, Config(text));
        cfg.set("bos_token_id", Config(int64_t(*eos)));
        cfg.set("eos_token_id", Config(int64_t(*eos)));
      }
      io::write_file_atomically(d / "tokenizer_config.json", tc.to_json(true) + "\n");
      written = {"vocab.json", "merges.txt", "tokenizer_config.json"};
    }
    fs::remove_all(tmp);
  }
  safetensors::write((d / "model.safetensors").string(), tensors, {{"format", "pt"}});
  io::write_file_atomically(d / "config.json", cfg.to_json(true) + "\n");
  return written;
}

}  // namespace kiln::hf
