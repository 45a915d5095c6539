// The kiln_evaluators plugin as a spec reaches it: loaded from its library, components built
// from Configs through the registry, errors located at the parameter.
#include <gtest/gtest.h>

#include <filesystem>

#include "core/eval/evaluator.h"
#include "core/registry/plugin.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

Config perplexity(std::vector<std::pair<std::string, Config>> params) {
  Config c = Config::table();
  for (auto& [k, v] : params) c.set(k, v);
  c.set_component("evaluator", "perplexity");
  c.set_loc({"suite.lua", 3, ""});
  c.set_path("eval[1]");
  return c;
}

std::string create_error(const Config& c) {
  try {
    Registry::global().create<eval::Evaluator>(c);
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

class EvaluatorsPlugin : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { load_plugin(KILN_EVALUATORS_PLUGIN); }
};

TEST_F(EvaluatorsPlugin, RegistersPerplexityWithEveryParameterDocumented) {
  const ComponentInfo* c = Registry::global().find("evaluator", "perplexity");
  ASSERT_NE(c, nullptr);
  EXPECT_EQ(c->plugin, "kiln_evaluators");
  for (const char* p :
       {"name", "path", "method", "context", "stride", "prefix", "prefix_token", "limit"}) {
    const Param* param = c->schema.find(p);
    ASSERT_NE(param, nullptr) << p;
    EXPECT_FALSE(param->doc.empty()) << p;
  }
}

TEST_F(EvaluatorsPlugin, BuildsAnEvaluatorThatScores) {
  auto ev = Registry::global().create<eval::Evaluator>(perplexity({{"method", Config("strided")},
                                                                   {"context", Config(4)},
                                                                   {"stride", Config(2)},
                                                                   {"name", Config("ppl")}}));
  EXPECT_EQ(ev->name(), "ppl");
  testing::UniformModel model(257, 8);
  auto tok = std::make_shared<testing::ByteTokenizer>();
  testing::FixedDataset data(tok, tok->encode("abc def", false));
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = tok;
  ctx.dataset = &data;
  ctx.progress = false;
  Config r = ev->evaluate(ctx);
  EXPECT_EQ(r.at("method").as_string(), "strided");
  EXPECT_EQ(r.at("stride").as_int(), 2);
  EXPECT_EQ(r.at("context").as_int(), 4);
  EXPECT_EQ(r.at("tokens").as_int(), 7);
  EXPECT_NEAR(r.at("token_perplexity").as_number(), 257.0, 1e-9);
}

TEST_F(EvaluatorsPlugin, BuildsMmluFromAConfig) {
  const std::string mmlu = std::string(KILN_SHARED_DATA) + "/mmlu";
  if (!std::filesystem::is_directory(mmlu + "/test"))
    GTEST_SKIP() << "no MMLU data at " << mmlu << " (see ../shared/data/README.md)";
  const ComponentInfo* info = Registry::global().find("evaluator", "mmlu");
  ASSERT_NE(info, nullptr);
  for (const char* p :
       {"name", "path", "split", "shots", "subjects", "limit", "context", "template", "bos"}) {
    const Param* param = info->schema.find(p);
    ASSERT_NE(param, nullptr) << p;
    EXPECT_FALSE(param->doc.empty()) << p;
  }
  Config c = Config::table();
  c.set("path", Config(mmlu));
  c.set("shots", Config(1));
  c.set("limit", Config(3));
  c.set("subjects", Config::list({Config("anatomy"), Config("virology")}));
  c.set_component("evaluator", "mmlu");
  c.set_loc({"suite.lua", 2, ""});
  c.set_path("eval[1]");
  auto ev = Registry::global().create<eval::Evaluator>(c);
  EXPECT_EQ(ev->name(), "mmlu");
  testing::UniformModel model(257, 4096);
  eval::EvalContext ctx;
  ctx.model = &model;
  ctx.tokenizer = std::make_shared<testing::ByteTokenizer>();
  ctx.progress = false;
  Config r = ev->evaluate(ctx);
  EXPECT_EQ(r.at("questions").as_int(), 6);
  EXPECT_EQ(r.at("subjects").as_int(), 2);
  EXPECT_EQ(r.at("shots").as_int(), 1);
  EXPECT_EQ(r.at("by_subject").at("virology").at("category").as_string(), "other");
}

TEST_F(EvaluatorsPlugin, BadParametersFailAtTheirPlace) {
  EXPECT_NE(create_error(perplexity({{"stride", Config(2)}}))
                .find("stride applies to method = \"strided\" only"),
            std::string::npos);
  EXPECT_NE(create_error(
                perplexity(
                    {{"method", Config("strided")}, {"context", Config(4)}, {"stride", Config(4)}}))
                .find("eval[1].stride: stride (4) must be less than context (4)"),
            std::string::npos);
  EXPECT_NE(create_error(perplexity({{"context", Config(1)}})).find("context"), std::string::npos);
  EXPECT_NE(create_error(perplexity({{"method", Config("sliding")}})).find("method"),
            std::string::npos);
  EXPECT_NE(create_error(perplexity({{"prefix", Config("none")}, {"prefix_token", Config(3)}}))
                .find("prefix_token conflicts with prefix = \"none\""),
            std::string::npos);
}

}  // namespace
}  // namespace kiln::evaluators
