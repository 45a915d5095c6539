// Shared by the datasets tests: a temporary folder per test, specs written into it, and the
// components (the datasets plugin as built, plus the test tokenizers registered in-process).
#pragma once

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <mutex>
#include <string>

#include "core/data/dataset.h"
#include "core/registry/plugin.h"
#include "core/registry/registry.h"
#include "dsl/spec.h"
#include "tests/plugins/datasets/fake_tokenizers.h"

namespace kiln::testing {

namespace fs = std::filesystem;

/// Loads the built plugins (kiln_datasets, and a tokenizers plugin when one is built) and
/// registers the test tokenizers, once.
inline void ensure_components() {
  static std::once_flag once;
  std::call_once(once, [] {
    load_default_plugins();
    register_fake_tokenizers(Registry::global());
  });
}

/// The message of the kiln::Error f throws, or "(no error)".
template <class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

#define EXPECT_ERROR_HAS(message, ...)                   \
  do {                                                   \
    std::string msg_ = (message);                        \
    for (const char* part_ : {__VA_ARGS__})              \
      EXPECT_NE(msg_.find(part_), std::string::npos)     \
          << "missing \"" << part_ << "\" in: " << msg_; \
  } while (0)

class DatasetsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ensure_components();
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / (std::string("kiln_datasets_") + std::to_string(::getpid()) +
                                        "_" + info->test_suite_name() + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  /// Writes a file under the test's folder; returns its path.
  std::string write(const std::string& name, const std::string& content) {
    fs::path p = dir_ / name;
    fs::create_directories(p.parent_path());
    std::ofstream(p, std::ios::binary) << content;
    return p.string();
  }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  /// The dataset of a spec whose data section is the Lua expression `data` (in spec.lua).
  std::shared_ptr<data::Dataset> dataset(const std::string& data, const std::string& extra = "") {
    std::string spec = write("spec.lua", "return {\n  data = " + data + ",\n" + extra + "}\n");
    Config c = dsl::load_spec(spec);
    return Registry::global().create<data::Dataset>(c.at("data"));
  }

  /// A Lua string literal of a path.
  static std::string lua(const std::string& s) { return "\"" + s + "\""; }

  fs::path dir_;
};

/// Prepares with a seed and no progress output.
inline void prepare(data::Dataset& d, uint64_t seed = 0, int64_t seq_len = 0) {
  data::PrepareOptions o;
  o.seed = seed;
  o.progress = false;
  o.seq_len = seq_len;
  d.prepare(o);
}

inline std::vector<int64_t> values(const Tensor& t) {
  return t.to_vector<int64_t>();
}

}  // namespace kiln::testing
