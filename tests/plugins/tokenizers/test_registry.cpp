// The tokenizers as components: loaded from the plugin, built from configs, errors located at
// the spec's node.
#include <gtest/gtest.h>

#include <cstdlib>

#include "core/base/error.h"
#include "core/data/tokenizer.h"
#include "core/registry/plugin.h"
#include "tests/plugins/tokenizers/tokenizer_test_util.h"

namespace kiln::tokenizers {
namespace {

using data::Tokenizer;

Config component(const std::string& name, std::vector<std::pair<std::string, Config>> params = {}) {
  Config c = Config::table();
  for (auto& [k, v] : params) c.set(k, std::move(v));
  c.set_component("tokenizer", name);
  c.set_loc({"spec.lua", 3, ""});
  c.set_path("data.tokenizer");
  return c;
}

std::shared_ptr<Tokenizer> make(const Config& c) {
  load_plugin(KILN_TOKENIZERS_PLUGIN);
  return Registry::global().create<Tokenizer>(c);
}

TEST(TokenizerComponents, AreRegistered) {
  load_plugin(KILN_TOKENIZERS_PLUGIN);
  for (const char* name : {"byte", "char", "bpe", "gpt2", "wordpiece"}) {
    const ComponentInfo* info = Registry::global().find("tokenizer", name);
    ASSERT_NE(info, nullptr) << name;
    EXPECT_EQ(info->plugin, "kiln_tokenizers");
  }
}

TEST(TokenizerComponents, BuildFromConfigs) {
  auto byte =
      make(component("byte", {{"special_tokens", Config::list({Config("<|endoftext|>")})}}));
  EXPECT_EQ(byte->vocab_size(), 257);
  EXPECT_EQ(byte->eos_id(), std::optional<int32_t>(256));

  auto chr = make(component("char"));
  EXPECT_TRUE(chr->needs_fit());
  chr->fit({"hello"});
  EXPECT_EQ(chr->vocab_size(), 4);

  auto fixed = make(component("char", {{"chars", Config("ab")}}));
  EXPECT_EQ(fixed->encode("ba"), (std::vector<int32_t>{1, 0}));

  auto bpe = make(component("bpe", {{"vocab_size", Config(300)}}));
  bpe->fit({"low lower lowest low low"});
  EXPECT_EQ(bpe->eos_id(), std::optional<int32_t>(bpe->vocab_size() - 1));
  EXPECT_EQ(bpe->decode(bpe->encode("lowest")), "lowest");
}

TEST(TokenizerComponents, Gpt2FromDirAndFromKilnSharedData) {
  const std::string dir = testing::shared_data("gpt2-bpe");
  if (!testing::exists(dir + "/encoder.json"))
    GTEST_SKIP() << dir << " is absent (see shared/data/README.md)";
  auto tok = make(component("gpt2", {{"dir", Config(dir)}}));
  EXPECT_EQ(tok->vocab_size(), 50257);
  EXPECT_EQ(tok->encode("Hello, world!"),
            (std::vector<int32_t>{15496, 11, 995, 0}));  // golden.jsonl
  ::setenv("KILN_SHARED_DATA", KILN_SHARED_DATA, 1);
  auto by_env = make(component("gpt2"));
  EXPECT_EQ(by_env->eos_id(), std::optional<int32_t>(50256));
  ::unsetenv("KILN_SHARED_DATA");
}

TEST(TokenizerComponents, ErrorsNameTheSpecNode) {
  try {
    make(component("byte", {{"eos", Config("</s>")}}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("spec.lua:3: data.tokenizer: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("eos = \"</s>\" is not one of the special tokens (there are none)"),
              std::string::npos)
        << msg;
  }
  try {
    make(component("bpe", {{"vocab_size", Config(100)}}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size"), std::string::npos) << e.what();
  }
  auto missing = make(component("gpt2", {{"dir", Config("/nonexistent/gpt2")}}));
  try {
    missing->vocab_size();
    FAIL() << "expected an error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("spec.lua:3: data.tokenizer: "), std::string::npos) << msg;
    EXPECT_NE(msg.find("/nonexistent/gpt2/encoder.json"), std::string::npos) << msg;
  }
}

}  // namespace
}  // namespace kiln::tokenizers
