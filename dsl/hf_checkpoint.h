// Hugging Face checkpoints in and out: GPT-2 and LLaMA-family decoders saved in the
// `save_pretrained` layout, as kiln decoder models.
//
//   DIR/config.json                    GPT2Config or LlamaConfig (model_type "gpt2" / "llama")
//   DIR/model.safetensors              the weights under Hugging Face's names, or
//   DIR/model.safetensors.index.json   {"weight_map": {name: shard file}} and the shards
//   DIR/vocab.json + merges.txt        byte-level BPE (GPT-2's encoder.json + vocab.bpe), or
//   DIR/tokenizer.json                 the same vocabulary and merges as `tokenizers` saves them
//
// The mapping is data, as a spec is: config.json becomes a `decoder {...}` component spec
// naming the layers by their registered names (what models/gpt2.lua and models/llama.lua
// build), and each kiln parameter corresponds to Hugging Face tensors by a rule:
//
//   GPT-2  wte.weight                 <- transformer.wte.weight
//          wpe.weight                 <- transformer.wpe.weight
//          blocks.N.ln1.{weight,bias} <- transformer.h.N.ln_1.{weight,bias}
//          blocks.N.attn.c_attn.*     <- transformer.h.N.attn.c_attn.*     (Conv1D: transposed)
//          blocks.N.attn.c_proj.*     <- transformer.h.N.attn.c_proj.*     (Conv1D: transposed)
//          blocks.N.ln2.*             <- transformer.h.N.ln_2.*
//          blocks.N.mlp.c_fc.*        <- transformer.h.N.mlp.c_fc.*        (Conv1D: transposed)
//          blocks.N.mlp.c_proj.*      <- transformer.h.N.mlp.c_proj.*      (Conv1D: transposed)
//          ln_final.*                 <- transformer.ln_f.*                (lm_head tied)
//   LLaMA  wte.weight                 <- model.embed_tokens.weight
//          blocks.N.ln1.weight        <- model.layers.N.input_layernorm.weight
//          blocks.N.attn.c_attn.weight<- [q_proj; k_proj; v_proj].weight   (rows concatenated)
//          blocks.N.attn.c_proj.weight<- model.layers.N.self_attn.o_proj.weight
//          blocks.N.ln2.weight        <- model.layers.N.post_attention_layernorm.weight
//          blocks.N.mlp.{gate,up,down}_proj.weight <- model.layers.N.mlp.{gate,up,down}_proj.weight
//          ln_final.weight            <- model.norm.weight
//          lm_head.weight             <- lm_head.weight                    (unless tied)
//
// Hugging Face's Conv1D stores its weight as [in, out] (x @ W), kiln's Linear as [out, in]
// (x @ W^T), hence the transposes. kiln's fused q/k/v rows are the query heads, then the key
// heads, then the value heads, each head's dims contiguous: GPT-2's c_attn columns exactly, and
// LLaMA's three projections stacked. RoPE needs no permutation: kiln rotates dim i with dim
// i + D/2 as Hugging Face's LlamaForCausalLM does (tests/reference/README.md).
//
// The tokenizer is kiln's `gpt2` component over the checkpoint's vocabulary and merges, so it
// splits words with GPT-2's pre-tokenisation; tokenizer.json's own pre-tokenizer (LLaMA 3's
// regex, for instance) is not read. Not read either: pytorch_model.bin, rope_scaling, attention
// biases (Qwen2), sliding windows (Mistral).
#pragma once

#include <memory>
#include <string>

#include "core/data/tokenizer.h"
#include "core/io/safetensors.h"
#include "core/nn/model.h"
#include "core/nn/module.h"
#include "core/registry/config.h"
#include "core/tensor/dtype.h"
#include "core/train/run.h"

namespace kiln::hf {

/// "hf:DIR" names a Hugging Face checkpoint where a run directory is expected.
bool is_hf_ref(const std::string& ref);
/// DIR of "hf:DIR".
std::string hf_dir(const std::string& ref);

/// Reads DIR/config.json (throws naming the file when it is missing or not JSON).
Config read_config(const std::string& dir);

/// The kiln decoder spec of a config.json: a `model.decoder` component, validated with its
/// defaults filled. Throws naming config_path and the key for an unsupported model_type or
/// setting (rope_scaling, attention biases, ...).
Config model_spec(const Config& hf_config, const std::string& config_path);

/// The config.json of a kiln decoder (its resolved spec and its weights, for the shapes).
/// Throws when the model is neither GPT-2-shaped (LayerNorm, learned positions, GELU, biases)
/// nor LLaMA-shaped (RMSNorm, RoPE, SwiGLU, no biases), saying which setting departs.
Config config_for(const Config& model_spec, const nn::StateDict& weights);

/// A checkpoint's tensors with the file each came from (for messages).
struct Weights {
  safetensors::TensorMap tensors;
  std::map<std::string, std::string> file_of;
  std::string source;  ///< model.safetensors, or the index of the shards
};

/// DIR/model.safetensors, or every shard DIR/model.safetensors.index.json lists (each tensor
/// from the shard the index names; a tensor the index names but its shard lacks is an error).
Weights read_weights(const std::string& dir);

/// Hugging Face tensors -> kiln's state dict, converted to `dtype`. Every tensor the config
/// implies must be present with its shape (the error names the file, the tensor and both
/// shapes); tensors that are not parameters (GPT-2's attn.bias masks, rotary inv_freq, a tied
/// lm_head) are skipped; any other tensor is an error.
nn::StateDict to_kiln(const Config& hf_config, const Weights& weights, DType dtype = DType::f32);

/// kiln's state dict -> Hugging Face tensors (the inverse of to_kiln, exact).
safetensors::TensorMap from_kiln(const Config& hf_config, const nn::StateDict& weights);

/// Loads DIR as a run: the model built from config.json with the weights, in eval mode, and
/// the tokenizer (vocab.json + merges.txt, else tokenizer.json) as a `gpt2` tokenizer
/// component. `spec` holds { model = the decoder spec }; there is no dataset.
train::LoadedRun load(const std::string& dir);

/// A run directory (see train::load_run) or "hf:DIR" (see load).
train::LoadedRun load_run_or_hf(const std::string& ref, const train::LoadRunOptions& options = {});

/// The weights a run starts from (`train.init`): a run directory (its latest checkpoint), a
/// checkpoint directory, or hf:DIR.
nn::StateDict read_start_weights(const std::string& ref);

struct SaveOptions {
  DType dtype = DType::f32;  ///< the dtype of the written weights
};

/// Writes DIR/config.json, DIR/model.safetensors and, for a byte-level BPE tokenizer (one
/// whose save() writes encoder.json and vocab.bpe), DIR/vocab.json, DIR/merges.txt and
/// DIR/tokenizer_config.json. Returns the tokenizer files written (none for other tokenizers).
std::vector<std::string> save(const std::string& dir, const Config& model_spec,
                              const nn::Model& model, const data::Tokenizer* tokenizer,
                              const SaveOptions& options = {});

}  // namespace kiln::hf
