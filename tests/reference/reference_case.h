// The whole-model reference test's shared part (tests/reference/README.md): the cases, the
// fixture files' layout, and the `reference_batch` dataset that serves a fixture's token batch
// to the real Trainer.
//
// A case is a spec in tests/reference/<name>_tiny.lua (a model from models/*.lua, AdamW, a
// constant schedule, grad clip) and two fixture files in tests/reference/fixtures/:
//
//   <name>.inputs.safetensors    written by kiln_reference_inputs (write_inputs.cpp)
//     <param name>               every model parameter, f32, as kiln initialised it
//     tokens.inputs, .targets    i64 [B, T]: the batch (-100 = no loss). Decoders: targets
//                                already shifted; BERT: inputs masked, targets the originals at
//                                the selected positions; T5: the encoder's source and the
//                                decoder's target
//     metadata                   the model's and the optimizer's settings, read from the
//                                resolved spec, for reference.py to build the same model
//   <name>.expected.safetensors  written by reference.py (PyTorch, computed in f64, stored f32)
//     logits                     [B, T, vocab] at the initial weights
//     loss                       [1]: the mean cross-entropy over targets that are not -100
//     grad.<param name>          d loss / d param at the initial weights
//     losses                     [10]: the loss of each of 10 AdamW steps, before its update
//     metadata no_decay          the parameters the optimizer does not decay, comma-separated
#pragma once

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "core/io/safetensors.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "dsl/spec.h"

namespace kiln::reference {

inline const std::vector<std::string>& case_names() {
  static const std::vector<std::string> names{"gpt2", "llama", "bert", "t5"};
  return names;
}

inline std::string spec_path(const std::string& name) {
  return std::string(KILN_REFERENCE_DIR) + "/" + name + "_tiny.lua";
}

inline std::string inputs_path(const std::string& fixtures, const std::string& name) {
  return fixtures + "/" + name + ".inputs.safetensors";
}

inline std::string expected_path(const std::string& fixtures, const std::string& name) {
  return fixtures + "/" + name + ".expected.safetensors";
}

inline constexpr const char* kInputsKey = "tokens.inputs";
inline constexpr const char* kTargetsKey = "tokens.targets";

/// The batch of a fixture, the same at every step (as llm.c's test trains on one batch).
class ReferenceBatch : public data::Dataset {
 public:
  explicit ReferenceBatch(std::string path) : path_(std::move(path)) {}
  std::shared_ptr<data::Tokenizer> tokenizer() const override { return nullptr; }
  void prepare(const data::PrepareOptions&) override {
    safetensors::File f = safetensors::read(path_);
    for (const char* key : {kInputsKey, kTargetsKey})
      KILN_CHECK(f.tensors.count(key), path_, ": no tensor '", key, "'");
    inputs_ = f.tensors.at(kInputsKey);
    targets_ = f.tensors.at(kTargetsKey);
    KILN_CHECK(inputs_.dim() == 2 && inputs_.dtype() == DType::i64 &&
                   targets_.shape() == inputs_.shape() && targets_.dtype() == DType::i64,
               path_, ": expected i64 inputs and targets of one shape [B, T]");
    for (int64_t id : inputs_.to_vector<int64_t>()) tokens_.push_back(int32_t(id));
  }
  data::Batch next(data::Split, int64_t batch, int64_t seq_len) override {
    KILN_CHECK(batch == inputs_.size(0) && seq_len == inputs_.size(1), "reference_batch: ", path_,
               " holds a batch of ", inputs_.shape(), ", asked for [", batch, ", ", seq_len, "]");
    data::Batch b;
    b.inputs = inputs_;
    b.targets = targets_;
    return b;
  }
  std::span<const int32_t> tokens(data::Split) const override { return tokens_; }
  Config state() const override { return Config::table(); }
  void load_state(const Config&) override {}

 private:
  std::string path_;
  Tensor inputs_, targets_;
  std::vector<int32_t> tokens_;
};

/// Loads the default plugins (layers, objectives, optimizers) and registers reference_batch.
inline void load_components() {
  load_default_plugins();
  Registry& r = Registry::global();
  if (r.find("dataset", "reference_batch")) return;
  Schema s("the fixed batch of a reference fixture (tests/reference), served at every step");
  s.string("path", std::nullopt, "the fixture's inputs file");
  r.set_current_plugin("kiln_reference_tests", "0");
  r.add<data::Dataset>("dataset", "reference_batch", s, [](const Config& c) {
    return std::make_shared<ReferenceBatch>(c.get<std::string>("path"));
  });
}

/// The case's spec, resolved, reading its batch from `inputs`.
inline Config load_case_spec(const std::string& name, const std::string& inputs) {
  dsl::SpecOptions o;
  o.overrides.push_back("data.path=" + inputs);
  return dsl::load_spec(spec_path(name), o);
}

}  // namespace kiln::reference
