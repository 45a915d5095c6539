// Answers of evaluation requests kept on disk, so that an interrupted evaluation resumes where
// it stopped: the engine (loglikelihood, generate_until) looks every request up before running
// the model and appends the answers of each batch as soon as it has them.
//
// An answer is keyed by the SHA-256 of the model's fingerprint (its parameters' names, shapes,
// dtypes and bytes, and the tokenizer's tokens: another checkpoint or tokenizer never reads
// another's answers) and of the request (its kind, tokens and options). The file is a log of
// lines "L|G key fields...", appended and flushed once per batch; doubles are written as hex
// floats, so an answer read back is the one computed, bit for bit. A line cut short by a kill is
// ignored when the file is read, and later answers go after it.
#pragma once

#include <cstdint>
#include <fstream>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/data/tokenizer.h"
#include "core/eval/generate_until.h"
#include "core/eval/loglikelihood.h"
#include "core/nn/model.h"

namespace kiln::eval {

/// The fingerprint of a model and its tokenizer (tokenizer may be null): a SHA-256 hex digest.
std::string model_fingerprint(const nn::Model& model, const data::Tokenizer* tokenizer);

class RequestCache {
 public:
  /// Reads `path` when it exists (creating its folder and the file otherwise) for answers of the
  /// model whose fingerprint is `model_key`.
  RequestCache(std::string path, std::string model_key);

  /// The key of a request: `kind` and `fields` (the request's tokens and options, in words).
  std::string key(const std::string& kind, const std::vector<int64_t>& fields,
                  const std::vector<std::string>& strings = {}) const;

  const LoglikelihoodResult* find_loglikelihood(const std::string& key) const;
  const GenerateUntilResult* find_generation(const std::string& key) const;
  /// Keep an answer (in memory at once; on disk at the next flush()).
  void put(const std::string& key, const LoglikelihoodResult& r);
  void put(const std::string& key, const GenerateUntilResult& r);
  /// Appends the answers put since the last flush to the file.
  void flush();

  const std::string& path() const { return path_; }
  /// Answers read from the file when it was opened.
  int64_t loaded() const { return loaded_; }
  /// Requests answered from the cache (lookups that found an answer).
  int64_t hits() const { return hits_; }

 private:
  std::string path_, model_key_, pending_;
  std::unordered_map<std::string, LoglikelihoodResult> ll_;
  std::unordered_map<std::string, GenerateUntilResult> gen_;
  int64_t loaded_ = 0;
  mutable int64_t hits_ = 0;
};

}  // namespace kiln::eval
