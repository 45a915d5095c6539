// Post-training data: hh-rlhf transcripts split at the shared prompt, identical pairs skipped
// and counted, one EOS after each response, prompt targets masked, and the real hh-rlhf files.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "core/data/reference_logps.h"
#include "plugins/datasets/preference.h"
#include "plugins/datasets/preference_dataset.h"
#include "plugins/datasets/sources.h"

namespace kiln::datasets {
namespace {

// Bytes as ids 1..256; "<eos>" is id 0 (parsed when written in the text with parse_special).
class ByteTokenizer final : public data::Tokenizer {
 public:
  std::vector<int32_t> encode(std::string_view text, bool) const override {
    std::vector<int32_t> ids;
    for (size_t i = 0; i < text.size(); ++i) {
      if (text.substr(i, 5) == "<eos>") {
        ids.push_back(0);
        i += 4;
      } else {
        ids.push_back(int32_t(uint8_t(text[i])) + 1);
      }
    }
    return ids;
  }
  std::string decode(const std::vector<int32_t>& ids) const override {
    std::string s;
    for (int32_t id : ids) s += token_bytes(id);
    return s;
  }
  std::string token_bytes(int32_t id) const override {
    return id == 0 ? "<eos>" : std::string(1, char(id - 1));
  }
  int64_t vocab_size() const override { return 257; }
  std::optional<int32_t> eos_id() const override { return 0; }
  void save(const std::string&) const override {}
  void load(const std::string&) override {}
};

TEST(PreferenceData, HhRlhfPromptIsTheLongestSharedPrefixEndingInAssistant) {
  const std::string prompt = "\n\nHuman: Hi\n\nAssistant: Hello\n\nHuman: Help?\n\nAssistant:";
  auto p = split_hh_rlhf(prompt + " Sure.", prompt + " No.");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->prompt, prompt);
  EXPECT_EQ(p->chosen, " Sure.");
  EXPECT_EQ(p->rejected, " No.");
  // Responses that share a beginning: the prompt still ends at the last "\n\nAssistant:".
  p = split_hh_rlhf(prompt + " Sure, here.", prompt + " Sure, not.");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->prompt, prompt);
  EXPECT_EQ(p->chosen, " Sure, here.");
  // Transcripts that diverge in an earlier turn: the prompt ends at the last shared one.
  p = split_hh_rlhf("\n\nHuman: A\n\nAssistant: x\n\nHuman: B\n\nAssistant: y",
                    "\n\nHuman: A\n\nAssistant: z");
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->prompt, "\n\nHuman: A\n\nAssistant:");
  EXPECT_EQ(p->chosen, " x\n\nHuman: B\n\nAssistant: y");
  EXPECT_FALSE(split_hh_rlhf("\n\nHuman: A", "\n\nHuman: B").has_value());
}

TEST(PreferenceData, IdenticalPairsAreSkippedAndCounted) {
  const std::string jsonl =
      "{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: a\", \"rejected\": \"\\n\\nHuman: "
      "q\\n\\nAssistant: b\"}\n"
      "{\"chosen\": \"\\n\\nHuman: q\\n\\nAssistant: same\", \"rejected\": \"\\n\\nHuman: "
      "q\\n\\nAssistant: same\"}\n"
      "{\"chosen\": \"no prompt\", \"rejected\": \"none\"}\n";
  PreferenceRecords r = parse_preferences(jsonl, "f.jsonl", "hh-rlhf", "");
  ASSERT_EQ(r.pairs.size(), 1u);
  EXPECT_EQ(r.identical, 1);
  EXPECT_EQ(r.no_prompt, 1);
  EXPECT_EQ(r.pairs[0].chosen, " a");
  PreferenceRecords j = parse_preferences(
      "{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"x\"}\n"
      "{\"prompt\": \"p\", \"chosen\": \"x\", \"rejected\": \"y\"}\n",
      "g.jsonl", "jsonl", "");
  EXPECT_EQ(j.pairs.size(), 1u);
  EXPECT_EQ(j.identical, 1);
}

TEST(PreferenceData, BadRecordsNameTheLine) {
  try {
    parse_preferences("{\"prompt\": \"p\", \"chosen\": \"x\"}\n", "g.jsonl", "jsonl", "data: ");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("g.jsonl:1: no field \"rejected\""), std::string::npos)
        << e.what();
  }
}

TEST(PreferenceData, ExactlyOneEosAfterEachResponse) {
  ByteTokenizer tok;
  Example a = make_example(tok, "ab", "cd", 0);
  EXPECT_EQ(a.tokens, (std::vector<int32_t>{'a' + 1, 'b' + 1, 'c' + 1, 'd' + 1, 0}));
  EXPECT_EQ(a.prompt_len, 2);
  // A response already ending in EOS (once or more) gets no second one.
  Example b = make_example(tok, "ab", "cd<eos><eos>", 0);
  EXPECT_EQ(b.tokens, a.tokens);
  Example c = make_example(tok, "ab", "cd", std::nullopt);
  EXPECT_EQ(c.tokens.size(), 4u);
}

TEST(PreferenceData, PairRowsMaskThePromptAndPad) {
  Example c{{5, 6, 7, 8, 0}, 2}, r{{5, 6, 9, 0}, 2};
  data::Batch b = collate_pairs({&c}, {&r}, 16, 3);
  EXPECT_EQ(b.pairs, 1);
  EXPECT_EQ(b.inputs.shape(), (Shape{2, 5}));
  EXPECT_EQ(b.inputs.to_vector<int64_t>(), (std::vector<int64_t>{5, 6, 7, 8, 0, 5, 6, 9, 0, 3}));
  EXPECT_EQ(b.targets.to_vector<int64_t>(),
            (std::vector<int64_t>{-100, 7, 8, 0, -100, -100, 9, 0, -100, -100}));
}

TEST(PreferenceData, TruncationCutsThePromptFirst) {
  Example e{{1, 2, 3, 4, 5, 6, 0}, 4};
  Example t = truncate_example(e, 5);
  EXPECT_EQ(t.tokens, (std::vector<int32_t>{3, 4, 5, 6, 0}));
  EXPECT_EQ(t.prompt_len, 2);
  t = truncate_example(e, 3);  // the prompt keeps one token, the response is cut
  EXPECT_EQ(t.tokens, (std::vector<int32_t>{4, 5, 6}));
  EXPECT_EQ(t.prompt_len, 1);
}

TEST(PreferenceData, TemplatesWriteTheTextIntoTheirOnePlaceholder) {
  EXPECT_EQ(apply_template("<u>{prompt}</u><a>", "{prompt}", "hi"), "<u>hi</u><a>");
  EXPECT_EQ(apply_template("{response}", "{response}", "ok"), "ok");
  EXPECT_EQ(check_template("<u>{prompt}", "{prompt}"), "");
  EXPECT_NE(check_template("<u>", "{prompt}").find("has no {prompt}"), std::string::npos);
  EXPECT_NE(check_template("{prompt}{prompt}", "{prompt}").find("more than once"),
            std::string::npos);
}

// A chat template applied to sft data: the prompt's template text is prompt (no loss), the
// response's suffix is response (scored), then one EOS.
TEST(PreferenceData, ChatTemplatesWrapPromptAndResponse) {
  namespace fs = std::filesystem;
  const fs::path file =
      fs::temp_directory_path() / ("kiln_template_" + std::to_string(::getpid()) + ".jsonl");
  std::ofstream(file) << "{\"prompt\": \"hi\", \"response\": \"yo\"}\n";
  PostTrainOptions o;
  o.pairs = false;
  o.paths = {file.string()};
  o.val_fraction = 0;
  o.prompt_template = "U:{prompt}\nA:";
  o.response_template = "{response}!";
  PostTrainDataset d(o, std::make_shared<ByteTokenizer>());
  data::PrepareOptions po;
  po.progress = false;
  d.prepare(po);
  fs::remove(file);
  data::Batch b = d.next(data::Split::train, 1, 16);
  std::vector<int64_t> want;
  for (char ch : std::string("U:hi\nA:yo!")) want.push_back(int64_t(uint8_t(ch)) + 1);
  want.push_back(0);  // EOS
  std::vector<int64_t> inputs = b.inputs.to_vector<int64_t>();
  inputs.resize(want.size());
  EXPECT_EQ(inputs, want);
  // Targets: -100 up to the last prompt token's position, then "yo!" and EOS.
  std::vector<int64_t> targets = b.targets.to_vector<int64_t>();
  const size_t prompt = std::string("U:hi\nA:").size();
  for (size_t t = 0; t + 1 < prompt; ++t) EXPECT_EQ(targets[t], -100) << t;
  EXPECT_EQ(std::vector<int64_t>(targets.begin() + int64_t(prompt) - 1,
                                 targets.begin() + int64_t(want.size()) - 1),
            std::vector<int64_t>(want.begin() + int64_t(prompt), want.end()));
}

TEST(PreferenceData, HhRlhfFilesParse) {
  const std::string file = std::string(KILN_SHARED_DATA) + "/hh-rlhf/helpful-base/test.jsonl.gz";
  if (!std::ifstream(file).good()) GTEST_SKIP() << file << " is absent";
  PreferenceRecords r = parse_preferences(read_file(file, ""), file, "hh-rlhf", "");
  EXPECT_EQ(int64_t(r.pairs.size()) + r.identical + r.no_prompt, 2354);
  EXPECT_GT(r.pairs.size(), 2300u);
  for (const PreferenceText& p : r.pairs) {
    ASSERT_TRUE(p.prompt.ends_with("\n\nAssistant:"));
    ASSERT_TRUE(p.prompt.starts_with("\n\nHuman:"));
    ASSERT_NE(p.chosen, p.rejected);
  }
}

// `kiln data reference-logps` files: 17 significant digits written, the same bits read back.
TEST(ReferenceLogps, ReadBackBitForBit) {
  std::mt19937_64 g(3);
  std::uniform_real_distribution<double> u(-400, 0);
  std::vector<double> chosen(500), rejected(500);
  for (size_t i = 0; i < chosen.size(); ++i) chosen[i] = u(g), rejected[i] = u(g);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("kiln_ref_logps_" + std::to_string(::getpid()) + ".jsonl"))
                               .string();
  data::write_reference_logps(path, chosen, rejected);
  const std::vector<double> back = data::read_reference_logps(path);
  std::filesystem::remove(path);
  ASSERT_EQ(back.size(), 2 * chosen.size());
  int differ = 0;
  for (size_t i = 0; i < chosen.size(); ++i)
    differ += back[2 * i] != chosen[i] || back[2 * i + 1] != rejected[i];
  EXPECT_EQ(differ, 0);
}

}  // namespace
}  // namespace kiln::datasets
