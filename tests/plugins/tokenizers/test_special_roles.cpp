// Special tokens by role (Tokenizer::special_id) and T5's sentinels, on every tokenizer of the
// plugin built as a component.
#include <gtest/gtest.h>

#include "core/base/error.h"
#include "core/data/tokenizer.h"
#include "core/registry/plugin.h"

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

Config strings(std::vector<std::string> v) {
  std::vector<Config> items;
  for (auto& s : v) items.emplace_back(std::move(s));
  return Config::list(std::move(items));
}

TEST(SpecialRoles, FoundByTheirUsualTexts) {
  auto bert = make(component(
      "char", {{"chars", Config("ab")},
               {"special_tokens", strings({"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"})}}));
  EXPECT_EQ(bert->special_id("pad"), std::optional<int32_t>(2));
  EXPECT_EQ(bert->special_id("unk"), std::optional<int32_t>(3));
  EXPECT_EQ(bert->special_id("cls"), std::optional<int32_t>(4));
  EXPECT_EQ(bert->special_id("sep"), std::optional<int32_t>(5));
  EXPECT_EQ(bert->special_id("mask"), std::optional<int32_t>(6));
  EXPECT_EQ(bert->special_id("eos"), std::nullopt);
  EXPECT_EQ(bert->special_id("[MASK]"), std::optional<int32_t>(6));
  EXPECT_EQ(bert->special_id("<extra_id_0>"), std::nullopt);

  // RoBERTa / BART's texts on the byte tokenizer: <s> is both cls and bos, </s> sep and eos.
  auto bart = make(component(
      "byte", {{"special_tokens", strings({"<s>", "<pad>", "</s>", "<unk>", "<mask>"})}}));
  EXPECT_EQ(bart->special_id("cls"), std::optional<int32_t>(256));
  EXPECT_EQ(bart->special_id("bos"), std::optional<int32_t>(256));
  EXPECT_EQ(bart->special_id("pad"), std::optional<int32_t>(257));
  EXPECT_EQ(bart->special_id("sep"), std::optional<int32_t>(258));
  EXPECT_EQ(bart->special_id("eos"), std::optional<int32_t>(258));
  EXPECT_EQ(bart->special_id("mask"), std::optional<int32_t>(260));

  // The tokenizer's own end-of-text token is the eos role.
  auto gpt = make(component("byte", {{"special_tokens", strings({"<|endoftext|>"})}}));
  EXPECT_EQ(gpt->special_id("eos"), std::optional<int32_t>(256));
}

TEST(Sentinels, AreReservedOnEveryTrainableTokenizer) {
  // char: a b [MASK], then the sentinels from the last down: <extra_id_0> is the highest id.
  auto chr = make(component("char", {{"chars", Config("ab")},
                                     {"special_tokens", strings({"[MASK]"})},
                                     {"sentinels", Config(3)}}));
  EXPECT_EQ(chr->vocab_size(), 6);
  EXPECT_EQ(chr->special_id("<extra_id_2>"), std::optional<int32_t>(3));
  EXPECT_EQ(chr->special_id("<extra_id_1>"), std::optional<int32_t>(4));
  EXPECT_EQ(chr->special_id("<extra_id_0>"), std::optional<int32_t>(5));
  EXPECT_EQ(chr->encode("a<extra_id_0>b", true), (std::vector<int32_t>{0, 5, 1}));
  EXPECT_EQ(chr->decode({5, 0}), "<extra_id_0>a");

  auto byte = make(component("byte", {{"sentinels", Config(2)}}));
  EXPECT_EQ(byte->special_id("<extra_id_0>"), std::optional<int32_t>(257));
  EXPECT_EQ(byte->vocab_size(), 258);

  auto bpe = make(component("bpe", {{"vocab_size", Config(300)}, {"sentinels", Config(2)}}));
  bpe->fit({"low lower lowest"});
  EXPECT_EQ(bpe->special_id("<extra_id_0>"), std::optional<int32_t>(bpe->vocab_size() - 1));
  EXPECT_EQ(bpe->special_id("eos"), std::optional<int32_t>(bpe->vocab_size() - 3));

  auto wp = make(component(
      "wordpiece",
      {{"vocab_size", Config(30)}, {"min_frequency", Config(1)}, {"sentinels", Config(2)}}));
  wp->fit({"low lower lowest"});
  // Special tokens first when learning: [PAD] [UNK] [CLS] [SEP] [MASK] <extra_id_1> <extra_id_0>.
  EXPECT_EQ(wp->special_id("<extra_id_0>"), std::optional<int32_t>(6));
  EXPECT_EQ(wp->special_id("mask"), std::optional<int32_t>(4));
  EXPECT_EQ(wp->encode("low <extra_id_0>", true).back(), 6);
}

TEST(WordPieceComponent, BuildsFromAVocabFileOrLearns) {
  auto wp =
      make(component("wordpiece", {{"vocab_size", Config(40)}, {"lowercase", Config(false)}}));
  EXPECT_TRUE(wp->needs_fit());
  wp->fit({"The cat sat. The cat sat."});
  EXPECT_EQ(wp->decode(wp->encode("The cat sat.")), "The cat sat .");
  try {
    make(component("wordpiece", {{"vocab", Config("/nonexistent/vocab.txt")}}));
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("spec.lua:3"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("/nonexistent/vocab.txt"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace kiln::tokenizers
