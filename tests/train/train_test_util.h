// Shared by the trainer tests: a temporary directory, a corpus, and tiny specs built on the
// test_train_components plugin (tiny_lm, test_bytes, test_text).
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "core/base/threads.h"
#include "core/registry/plugin.h"
#include "dsl/spec.h"

namespace kiln::testing {

namespace fs = std::filesystem;

inline void load_test_plugins() {
  // One thread: the models are tiny, and on a busy machine the threads' start and join cost
  // far more than the math. Results do not depend on the count.
  set_num_threads(1);
  load_default_plugins();
  load_plugin(KILN_TEST_TRAIN_PLUGIN);
}

/// A fresh directory for one test, removed at the end.
class TempDir {
 public:
  TempDir() {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    path_ = fs::temp_directory_path() / ("kiln_train_" + std::to_string(::getpid()) + "_" +
                                         info->test_suite_name() + "_" + info->name());
    fs::remove_all(path_);
    fs::create_directories(path_);
  }
  ~TempDir() { fs::remove_all(path_); }
  std::string operator/(const std::string& name) const { return (path_ / name).string(); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

inline std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buf;
  buf << in.rdbuf();
  return buf.str();
}

inline void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

/// About 20 kB of word salad, the same every time.
inline std::string corpus() {
  static const char* words[] = {"the", "king", "shall", "speak", "of",    "love", "and",
                                "war", "my",   "lord",  "thou",  "art",   "a",    "fool",
                                "to",  "be",   "or",    "not",   "sweet", "night"};
  std::string s;
  uint32_t x = 12345;
  while (s.size() < 20000) {
    x = x * 1664525u + 1013904223u;
    s += words[(x >> 16) % 20];
    s += (x >> 8) % 9 == 0 ? ".\n" : " ";
  }
  return s;
}

/// Writes the corpus and a spec into `dir` and returns the spec's path. `model`, `data` and
/// `train` are the bodies of the three tables (Lua), added to the defaults.
inline std::string write_spec(const TempDir& dir, const std::string& train = "",
                              const std::string& model = "", const std::string& data = "") {
  const std::string text = dir / "corpus.txt";
  if (!fs::exists(text)) write_file(text, corpus());
  // Defaults for the train keys that `train` does not set.
  std::string t = train;
  const std::pair<const char*, const char*> defaults[] = {
      {"optimizer", "adamw { lr = 1e-2, weight_decay = 0.1 }"},
      {"batch", "4"},
      {"steps", "20"},
      {"log_every", "5"},
      {"eval_batches", "2"}};
  for (const auto& [key, value] : defaults)
    if (train.find(std::string(key) + " =") == std::string::npos)
      t += std::string(t.empty() ? "" : ", ") + key + " = " + value;
  const std::string spec = dir / "spec.lua";
  write_file(spec,
             "return {\n"
             "  model = tiny_lm { vocab = 256, d_model = 8, context = 16, " +
                 model +
                 " },\n"
                 "  data = test_text { path = \"" +
                 text + "\", " + data +
                 " },\n"
                 "  train = { " +
                 t +
                 " },\n"
                 "  seed = 7,\n"
                 "}\n");
  return spec;
}

inline Config load(const std::string& spec, std::vector<std::string> overrides = {}) {
  dsl::SpecOptions o;
  o.overrides = std::move(overrides);
  return dsl::load_spec(spec, o);
}

}  // namespace kiln::testing
