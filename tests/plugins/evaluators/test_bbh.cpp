// BBH: answer extraction against golden cases written by hand for every answer format
// (acceptance 3), the direct prompt derived from a cot file against a golden string, an
// oracle generator scoring every one of the 6511 examples and a trivial one getting the
// documented result (acceptance 2), and the evaluator run through a model and the
// generate_until engine with identical results for different batch sizes. The tests that read
// ../shared/data/bbh skip when it is absent.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <unordered_map>

#include "core/base/error.h"
#include "plugins/evaluators/bbh.h"
#include "tests/plugins/evaluators/generation_models.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

const std::string kBbh = std::string(KILN_SHARED_DATA) + "/bbh";

#define SKIP_WITHOUT_BBH()                                                            \
  if (!fs::is_directory(kBbh + "/tasks") || !fs::is_directory(kBbh + "/cot-prompts")) \
  GTEST_SKIP() << "no BBH data at " << kBbh << " (see ../shared/data/README.md)"

using O = std::optional<std::string>;

// ---- acceptance 3: extraction ---------------------------------------------------------------

struct Case {
  const char* task;
  const char* generation;
  O strict, flexible;
};

TEST(Bbh, ExtractionGoldenCasesForEveryAnswerFormat) {
  const Case cases[] = {
      // multiple choice "(X)"
      {"date_understanding", "Today is 03/12. So the answer is (B).", "(B)", "(B)"},
      {"logical_deduction_three_objects", "The answer is (A). Hmm, no: the answer is (C).", "(C)",
       "(C)"},
      {"snarks", "Option (A) is sarcastic.\nSo the answer is (A)", "(A)", "(A)"},
      {"hyperbaton", "I think (B) sounds right.", std::nullopt, "(B)"},
      {"movie_recommendation", "So the answer is Monsters, Inc.", "Monsters, Inc", "Monsters, Inc"},
      {"temporal_sequences", "So the answer is (D).\n\nExtra text (E) on a new line", "(D)", "(E)"},
      // yes / no, in the task's own case
      {"sports_understanding", "So the answer is yes.", "yes", "yes"},
      {"sports_understanding", "It is plausible, so Yes", std::nullopt, "yes"},
      {"navigate", "We end at the start. So the answer is Yes.", "Yes", "Yes"},
      {"causal_judgement", "Most people would say no. So the answer is No.", "No", "No"},
      {"web_of_lies", "Bernita tells the truth: yes. Nobody knows.", std::nullopt, "Yes"},
      // True / False
      {"boolean_expressions", "not ( True ) = False. So the answer is False.", "False", "False"},
      {"boolean_expressions", "The result is TRUE", std::nullopt, "True"},
      // valid / invalid ("invalid" is not read as "valid")
      {"formal_fallacies", "So the answer is invalid.", "invalid", "invalid"},
      {"formal_fallacies", "The argument is invalid", std::nullopt, "invalid"},
      {"formal_fallacies", "Not invalid: it is valid.", std::nullopt, "valid"},
      // numbers
      {"multistep_arithmetic_two", "(-3 + 5) * -2 = -4. So the answer is -4.", "-4", "-4"},
      {"object_counting", "I have 2 + 3 = 5 things", std::nullopt, "5"},
      {"object_counting", "In total, 1,024 items. So the answer is 1,024.", "1,024", "1024"},
      {"multistep_arithmetic_two", "That gives 24.0", std::nullopt, "24"},
      {"multistep_arithmetic_two", "It is 2.50 or so", std::nullopt, "2.50"},
      // word sorting lists
      {"word_sorting", "So the answer is costume counterpart oven.", "costume counterpart oven",
       "costume counterpart oven"},
      {"word_sorting", "Sorted:\ncostume, counterpart,  oven.", std::nullopt,
       "costume counterpart oven"},
      // dyck sequences
      {"dyck_languages", "So we need \"]\", \")\". So the answer is ] ).", "] )", "] )"},
      {"dyck_languages", "The closing part:\n]) }", std::nullopt, "] ) }"},
      // nothing answer-like
      {"navigate", "I cannot tell.", std::nullopt, std::nullopt},
      {"date_understanding", "", std::nullopt, std::nullopt},
  };
  for (const Case& c : cases) {
    EXPECT_EQ(bbh_extract_strict(c.generation, BbhMode::cot), c.strict)
        << c.task << ": " << c.generation;
    EXPECT_EQ(bbh_extract_flexible(c.generation, c.task, BbhMode::cot), c.flexible)
        << c.task << ": " << c.generation;
  }
  // Direct mode: the generation itself is the answer.
  EXPECT_EQ(bbh_extract_strict(" (A)", BbhMode::direct), O("(A)"));
  EXPECT_EQ(bbh_extract_strict(" ] ) >.", BbhMode::direct), O("] ) >"));
  EXPECT_EQ(bbh_extract_strict("  ", BbhMode::direct), std::nullopt);
  EXPECT_EQ(bbh_extract_flexible(" It is valid.", "formal_fallacies", BbhMode::direct), O("valid"));
}

TEST(Bbh, EveryTaskHasAFormat) {
  EXPECT_EQ(bbh_tasks().size(), 27u);
  int counts[5] = {};
  for (const std::string& t : bbh_tasks()) ++counts[int(bbh_answer_format(t))];
  EXPECT_EQ(counts[int(BbhAnswerFormat::multiple_choice)], 17);
  EXPECT_EQ(counts[int(BbhAnswerFormat::binary)], 6);
  EXPECT_EQ(counts[int(BbhAnswerFormat::number)], 2);
  EXPECT_EQ(counts[int(BbhAnswerFormat::word_list)], 1);
  EXPECT_EQ(counts[int(BbhAnswerFormat::dyck)], 1);
  EXPECT_THROW(bbh_answer_format("sports"), Error);
}

// ---- prompts ----------------------------------------------------------------------------------

const char* kSportsDescription =
    "Determine whether an artificially constructed sentence relating to sports is plausible or "
    "not.";
const char* kSportsQ1 =
    "Q: Is the following sentence plausible? \"Bam Adebayo scored a reverse layup in the Western "
    "Conference Finals.\"";
const char* kSportsQ2 =
    "Q: Is the following sentence plausible? \"Santi Cazorla scored a touchdown.\"";
const char* kSportsQ3 =
    "Q: Is the following sentence plausible? \"DeMar DeRozan was called for the goal tend.\"";

TEST(Bbh, PromptsFromTheCotFile) {
  SKIP_WITHOUT_BBH();
  const std::string cot = read_bbh_cot_prompt(kBbh + "/cot-prompts/sports_understanding.txt");
  const std::string input =
      "Is the following sentence plausible? \"Elias Lindholm beat the buzzer.\"";
  const std::string cot_prompt = bbh_prompt(cot, input, BbhMode::cot);
  EXPECT_TRUE(cot_prompt.starts_with(std::string(kSportsDescription) + "\n\n" + kSportsQ1 +
                                     "\nA: Let's think step by step. Bam Adebayo"))
      << cot_prompt;
  EXPECT_TRUE(cot_prompt.ends_with(
      "Goal tending is part of basketball. So the answer is yes.\n\nQ: " + input +
      "\nA: Let's think step by step.\n"))
      << cot_prompt;
  // The direct prompt, written by hand from the file's three exemplars.
  const std::string direct = std::string(kSportsDescription) + "\n\n" + kSportsQ1 + "\nA: yes\n\n" +
                             kSportsQ2 + "\nA: no\n\n" + kSportsQ3 + "\nA: yes";
  EXPECT_EQ(bbh_direct_prompt(cot), direct);
  EXPECT_EQ(bbh_prompt(bbh_direct_prompt(cot), input, BbhMode::direct),
            direct + "\n\nQ: " + input + "\nA:");
}

// ---- acceptance 2 -----------------------------------------------------------------------------

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The test's own prompt: the cot file after its second line, trailing whitespace removed.
std::string render_cot(const std::string& task, const std::string& input) {
  std::string text = slurp(kBbh + "/cot-prompts/" + task + ".txt");
  text = text.substr(text.find('\n', text.find('\n') + 1) + 1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.pop_back();
  return text + "\n\nQ: " + input + "\nA: Let's think step by step.\n";
}

// Knows every prompt's target; answers as the cot exemplars do (or, in direct mode, with the
// answer alone). No model compute. BBH holds two causal_judgement inputs twice with opposite
// targets, so no function of the prompt alone can score all 6511: the oracle keeps each
// prompt's targets in file order and answers them in the order asked (the evaluator sends the
// examples in file order).
class OracleGenerator final : public eval::TextGenerator {
 public:
  std::unordered_map<std::string, std::deque<std::string>> gold;
  bool direct = false;
  int64_t unknown = 0;
  std::vector<std::string> generate(const std::vector<eval::TextRequest>& rs) override {
    std::vector<std::string> out;
    for (const eval::TextRequest& r : rs) {
      if (direct) {
        // The prompt ends "Q: {input}\nA:"; the oracle keys on the input.
        const size_t q = r.context.rfind("\n\nQ: ");
        out.push_back(" " + next(r.context.substr(q + 5, r.context.size() - q - 5 - 3)));
        continue;
      }
      out.push_back("Some reasoning. So the answer is " + next(r.context) + ".");
    }
    return out;
  }

 private:
  std::string next(const std::string& key) {
    auto it = gold.find(key);
    if (it == gold.end() || it->second.empty()) {
      ++unknown;
      return "";
    }
    std::string t = it->second.front();
    it->second.pop_front();
    return t;
  }
};

class ConstantGenerator final : public eval::TextGenerator {
 public:
  std::vector<std::string> generate(const std::vector<eval::TextRequest>& rs) override {
    return std::vector<std::string>(rs.size(), "So the answer is (A).");
  }
};

std::vector<std::pair<std::string, std::string>> examples_of(const std::string& task) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const BbhExample& e : read_bbh_task(kBbh + "/tasks/" + task + ".json"))
    out.emplace_back(e.input, e.target);
  return out;
}

TEST(Bbh, OracleScoresEveryExample) {
  SKIP_WITHOUT_BBH();
  for (BbhMode mode : {BbhMode::cot, BbhMode::direct}) {
    OracleGenerator oracle;
    oracle.direct = mode == BbhMode::direct;
    int64_t n = 0;
    for (const std::string& t : bbh_tasks())
      for (const auto& [input, target] : examples_of(t)) {
        oracle.gold[oracle.direct ? input : render_cot(t, input)].push_back(target);
        ++n;
      }
    EXPECT_EQ(n, 6511);  // the published size
    BbhOptions o;
    o.path = kBbh;
    o.mode = mode;
    const Config r = BbhEvaluator(o).score(oracle);
    EXPECT_EQ(oracle.unknown, 0) << "the evaluator sent prompts the test did not render";
    EXPECT_EQ(r.at("examples").as_int(), 6511);
    EXPECT_EQ(r.at("tasks").as_int(), 27);
    EXPECT_EQ(r.at("correct_strict").as_int(), 6511);
    EXPECT_EQ(r.at("correct_flexible").as_int(), 6511);
    EXPECT_EQ(r.at("accuracy").as_number(), 1.0);
    EXPECT_EQ(r.at("accuracy_flexible").as_number(), 1.0);
    EXPECT_EQ(r.at("by_task").at("snarks").at("examples").as_int(), 178);
  }
}

// Answering "(A)" everywhere scores, strictly, the share of each task's targets that are "(A)"
// (zero on the tasks whose answers are not options); flexible extraction reads the same.
TEST(Bbh, ConstantAnswerGetsTheShareOfTargetsThatAreA) {
  SKIP_WITHOUT_BBH();
  ConstantGenerator constant;
  BbhOptions o;
  o.path = kBbh;
  const Config r = BbhEvaluator(o).score(constant);
  int64_t total = 0;
  double sum = 0;
  for (const std::string& t : bbh_tasks()) {
    int64_t a = 0, n = 0;
    for (const auto& [input, target] : examples_of(t)) a += target == "(A)", ++n;
    total += a;
    sum += double(a) / double(n);
    EXPECT_EQ(r.at("by_task").at(t).at("correct_strict").as_int(), a) << t;
    // dyck keeps the brackets of "(A)": "( )", never a closing sequence.
    EXPECT_EQ(r.at("by_task").at(t).at("correct_flexible").as_int(), a) << t;
  }
  EXPECT_GT(total, 0);
  EXPECT_EQ(r.at("correct_strict").as_int(), total);
  EXPECT_DOUBLE_EQ(r.at("accuracy").as_number(), sum / 27.0);
}

// Through a model: the engine's generations are scored, contexts that do not fit are cut from
// the left, and batch sizes 1 and 8 give the same results.
TEST(Bbh, ThroughAModelIdenticalForBatchSizes) {
  SKIP_WITHOUT_BBH();
  testing::CachedBigramModel m(257, 600);
  auto tok = std::make_shared<testing::ByteTokenizer>();
  BbhOptions o;
  o.path = kBbh;
  o.tasks = {"sports_understanding", "word_sorting"};
  o.limit = 5;
  o.max_tokens = 16;
  std::vector<Config> results;
  for (int64_t batch : {1, 8}) {
    eval::EvalContext ctx;
    ctx.model = &m;
    ctx.tokenizer = tok;
    ctx.batch_size = batch;
    ctx.progress = false;
    results.push_back(BbhEvaluator(o).evaluate(ctx));
  }
  EXPECT_EQ(results[0], results[1]) << results[0].to_json();
  EXPECT_EQ(results[0].at("examples").as_int(), 10);
  EXPECT_EQ(results[0].at("contexts_truncated").as_int(), 10);  // every prompt > 584 bytes
  EXPECT_EQ(results[0].at("data_sha256").at("cot-prompts/sports_understanding.txt").as_string(),
            "2058a9bed717a6edb8ca2f815e88851436a4ee14c8b0d504ccf464865c6d0295");  // PROVENANCE.md

  // kiln eval --limit 2 and samples.jsonl's records: one per example, with what was scored.
  eval::EvalContext ctx;
  ctx.model = &m;
  ctx.tokenizer = tok;
  ctx.progress = false;
  ctx.limit = 2;
  std::vector<Config> samples;
  ctx.samples = &samples;
  const Config r = BbhEvaluator(o).evaluate(ctx);
  EXPECT_EQ(r.at("examples").as_int(), 4);
  ASSERT_EQ(samples.size(), 4u);
  const std::vector<BbhExample> sports = read_bbh_task(kBbh + "/tasks/sports_understanding.json");
  EXPECT_EQ(samples[0].at("task").as_string(), "sports_understanding");
  EXPECT_EQ(samples[0].at("gold").as_string(), sports[0].target);
  EXPECT_TRUE(samples[0].at("prompt").as_string().ends_with("Q: " + sports[0].input +
                                                            "\nA: Let's think step by step.\n"));
  int64_t correct = 0;
  for (const Config& s : samples) {
    EXPECT_TRUE(s.find("generation") && s.find("extracted_strict") && s.find("extracted_flexible"));
    correct += s.at("correct").as_bool();
  }
  EXPECT_EQ(correct, r.at("correct_strict").as_int());
}

TEST(Bbh, BadOptionsAndFilesError) {
  auto error = [](BbhOptions o) {
    try {
      BbhEvaluator ev(o);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  BbhOptions o;
  o.path = "/nonexistent";
  o.tasks = {"sports"};
  EXPECT_NE(error(o).find("\"sports\" is not one of BBH's 27 tasks"), std::string::npos);
  o.tasks = {};
  o.max_tokens = 0;
  EXPECT_NE(error(o).find("max_tokens must be >= 1"), std::string::npos);
  const fs::path dir = fs::temp_directory_path() / "kiln_bbh_bad";
  fs::create_directories(dir);
  std::ofstream(dir / "p.txt") << "no canary here\nQ: x\nA: y";
  try {
    read_bbh_cot_prompt((dir / "p.txt").string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("\"-----\" line"), std::string::npos) << e.what();
  }
  std::ofstream(dir / "t.json") << "{\"examples\": [{\"input\": \"x\"}]}";
  try {
    read_bbh_task((dir / "t.json").string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("example 0 lacks"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::evaluators
