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

/// The cache in front of the engine (loglikelihood, generate_until): requests whose key
/// (keys[i]) `find` answers are taken from the cache; the others go to run(todo, options,
/// on_batch) with the cache off, and their answers are kept batch by batch as they come.
/// Progress counts the cached answers as done.
template <class Request, class Result, class Options, class Find, class Run>
std::vector<Result> through_cache(RequestCache& cache, const std::vector<Request>& requests,
                                  const std::vector<std::string>& keys, const Options& options,
                                  Find find, Run run) {
  std::vector<Result> results(requests.size());
  std::vector<Request> todo;
  std::vector<size_t> todo_index;
  for (size_t i = 0; i < requests.size(); ++i) {
    if (const Result* hit = find(keys[i])) {
      results[i] = *hit;
    } else {
      todo.push_back(requests[i]);
      todo_index.push_back(i);
    }
  }
  const int64_t cached = int64_t(requests.size() - todo.size()), total = int64_t(requests.size());
  count_requests(0, 0, cached);
  if (todo.empty()) {
    if (options.progress) options.progress(total, total);
    return results;
  }
  Options o = options;
  o.cache = nullptr;
  if (options.progress)
    o.progress = [&](int64_t done, int64_t) { options.progress(cached + done, total); };
  std::vector<Result> computed =
      run(todo, o, [&](const std::vector<size_t>& answered, const std::vector<Result>& r) {
        for (size_t j : answered) cache.put(keys[todo_index[j]], r[j]);
        cache.flush();
      });
  for (size_t j = 0; j < todo.size(); ++j) results[todo_index[j]] = std::move(computed[j]);
  return results;
}

}  // namespace kiln::eval
