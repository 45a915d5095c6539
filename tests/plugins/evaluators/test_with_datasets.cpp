// The perplexity evaluator on the val split of the real text dataset and byte tokenizer (the
// kiln_datasets and kiln_tokenizers plugins, loaded as a spec loads them): documents come
// from the split cut at EOS, and the numbers are those worked by hand in test_perplexity.cpp.
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/registry/registry.h"
#include "dsl/spec.h"
#include "plugins/evaluators/perplexity.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

TEST(PerplexityWithDatasets, ScoresTheValSplitOfATextDatasetCutAtEos) {
  fs::path dir = fs::temp_directory_path() / ("kiln_ppl_data_" + std::to_string(::getpid()));
  fs::create_directories(dir / "val");
  auto write = [&](const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary) << text;
  };
  write(dir / "train.txt", "some training text that is long enough for a window or two\n");
  // Two val documents (files): 13 bytes and 2 words, 6 bytes and 4 words (see test_perplexity).
  write(dir / "val" / "a.txt", "h\xc3\xa9llo w\xc3\xb6rld");
  write(dir / "val" / "b.txt", "  a\tb\n");
  write(dir / "spec.lua",
        "return { data = text { path = \"" + (dir / "train.txt").string() +
            "\", tokenizer = byte { special_tokens = { \"<|endoftext|>\" } }, split = { val = \"" +
            (dir / "val" / "*.txt").string() + "\" } } }\n");
  Config spec = dsl::load_spec((dir / "spec.lua").string());
  auto data = Registry::global().create<data::Dataset>(spec.at("data"));
  data::PrepareOptions po;
  po.progress = false;
  data->prepare(po);

  testing::UniformModel model(257, 4);
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = data->tokenizer();
  ctx.dataset = data.get();
  ctx.progress = false;
  Config r = PerplexityEvaluator(PerplexityOptions{}).evaluate(ctx);
  fs::remove_all(dir);

  const double lnV = std::log(257.0);
  EXPECT_EQ(r.at("documents").as_int(), 2) << r.to_json();
  EXPECT_EQ(r.at("tokens").as_int(), 19);
  EXPECT_EQ(r.at("bytes").as_int(), 19);
  EXPECT_EQ(r.at("words").as_int(), 6);
  EXPECT_EQ(r.at("prefix").as_string(), "eos");
  EXPECT_EQ(r.at("prefix_token").as_int(), 256);
  EXPECT_NEAR(r.at("nll").as_number(), 19 * lnV, 1e-9);
  EXPECT_NEAR(r.at("bits_per_byte").as_number(), std::log2(257.0), 1e-12);
  EXPECT_NEAR(r.at("word_perplexity").as_number(), std::pow(257.0, 19.0 / 6.0), 1e-6);
}

}  // namespace
}  // namespace kiln::evaluators
