// AGIEval: prompts against golden strings written from AGIEval's dataset_loader.py, the
// Python-literal reader of few_shot_prompts.csv, math answer normalisation against hand cases,
// an oracle scoring every English question zero-shot and few-shot (acceptance 2), and a
// uniform model's documented tie result. The tests that read ../shared/data/agieval skip when
// it is absent.
#include <gtest/gtest.h>

#include <deque>
#include <filesystem>
#include <unordered_map>

#include "core/base/error.h"
#include "plugins/evaluators/agieval.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

const std::string kAgi = std::string(KILN_SHARED_DATA) + "/agieval";

#define SKIP_WITHOUT_AGIEVAL()         \
  if (!fs::is_directory(kAgi + "/v1")) \
  GTEST_SKIP() << "no AGIEval data at " << kAgi << " (see ../shared/data/README.md)"

std::vector<AgievalQuestion> load(const std::string& task) {
  return read_agieval_jsonl(kAgi + "/v1/" + task + ".jsonl");
}

const char* kCarQuestion =
    "A car is being driven, in a straight line and at a uniform speed, towards the base of a "
    "vertical tower. The top of the tower is observed from the car and, in the process, it takes "
    "10 minutes for the angle of elevation to change from 45\u00b0 to 60\u00b0. After how much "
    "more time will this car reach the base of the tower?";
const char* kCarOptions =
    "(A)5(\u221a3 + 1) (B)6(\u221a3 + \u221a2) (C)7(\u221a3 \u2013 1) (D)8(\u221a3 \u2013 2) "
    "(E)None of these";
const char* kCycleShot =
    "Problem 1.    A cycled from P to Q at 10 kmph and returned at the rate of 9 kmph. B cycled "
    "both ways at 12 kmph. In the whole journey B took 10 minutes less than A. Find the distance "
    "between P and Q.\nChoose from the following options:    (A)1.75km (B)2.75km (C)3.75km "
    "(D)4.75km (E)5.75km\nThe answer is therefore C\n\n";

TEST(Agieval, PromptsFollowAgievalsLoader) {
  SKIP_WITHOUT_AGIEVAL();
  const AgievalQuestion car = load("aqua-rat").at(0);
  EXPECT_EQ(agieval_zero_shot_prompt("aqua-rat", car), std::string("Q: ") + kCarQuestion +
                                                           " Answer Choices: " + kCarOptions +
                                                           "\nA: Among A through E, the answer is");
  std::vector<AgievalQuestion> shots =
      read_agieval_few_shot(kAgi + "/few_shot_prompts.csv", "aqua-rat");
  ASSERT_EQ(shots.size(), 5u);
  shots.resize(1);
  EXPECT_EQ(agieval_few_shot_prompt("aqua-rat", shots, car),
            std::string("Here are the answers for the problems in the exam.\n") + kCycleShot +
                "Problem 2.    " + kCarQuestion +
                "\nChoose from the following options:    " + kCarOptions + "\n");
  const AgievalQuestion math = load("math").at(0);
  EXPECT_EQ(math.answer, "(3,4]");
  EXPECT_EQ(agieval_zero_shot_prompt("math", math), "Q: " + math.question + "\nA: The answer is");
  std::vector<AgievalQuestion> math_shots =
      read_agieval_few_shot(kAgi + "/few_shot_prompts.csv", "math");
  ASSERT_EQ(math_shots.size(), 4u);
  EXPECT_EQ(math_shots[0].question,
            "Find the domain of the expression $\\frac{\\sqrt{x-2}}{\\sqrt{5-x}}$.");
  EXPECT_EQ(math_shots[0].answer, "[2,5)");
  // sat-en-without-passage: sat-en's exemplars without their passages.
  const auto with = read_agieval_few_shot(kAgi + "/few_shot_prompts.csv", "sat-en");
  const auto without =
      read_agieval_few_shot(kAgi + "/few_shot_prompts.csv", "sat-en-without-passage");
  ASSERT_EQ(with.size(), without.size());
  EXPECT_TRUE(with[0].passage.has_value());
  EXPECT_FALSE(without[0].passage.has_value());
  EXPECT_EQ(with[0].question, without[0].question);
}

TEST(Agieval, ReadsPythonLiterals) {
  const Config c = parse_python_literal(
      "{'a': \"it's\", 'b': None, \"c\": ['x\\n', 'y\\\\z', '\\u00e9'], 'd': {'e': True}, 'f': -3}",
      "test");
  EXPECT_EQ(c.at("a").as_string(), "it's");
  EXPECT_TRUE(c.at("b").is_null());
  EXPECT_EQ(c.at("c")[0].as_string(), "x\n");
  EXPECT_EQ(c.at("c")[1].as_string(), "y\\z");
  EXPECT_EQ(c.at("c")[2].as_string(), "\u00e9");
  EXPECT_TRUE(c.at("d").at("e").as_bool());
  EXPECT_EQ(c.at("f").as_int(), -3);
  try {
    parse_python_literal("{'a': 1", "cell 3");
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("cell 3"), std::string::npos) << e.what();
  }
}

// Hand cases of the harness's parse_math_answer + is_equiv.
TEST(Agieval, MathAnswersNormalised) {
  using O = std::optional<std::string>;
  EXPECT_EQ(agieval_parse_math_answer("so \\boxed{x = \\frac{1}{2}} done"), O("\\frac{1}{2}"));
  EXPECT_EQ(agieval_parse_math_answer("We get $y = 7$."), O("7"));
  EXPECT_EQ(agieval_parse_math_answer("Thus k = 12."), O("12"));
  EXPECT_EQ(agieval_parse_math_answer("between 3 and 4.5 apples"), O("4.5"));
  EXPECT_EQ(agieval_parse_math_answer("(3,4]"), O("4"));  // the last number, as the harness
  EXPECT_EQ(agieval_parse_math_answer("no digits"), std::nullopt);
  EXPECT_EQ(agieval_strip_math("\\dfrac12"), "\\frac{1}{2}");
  EXPECT_EQ(agieval_strip_math("0.5"), "\\frac{1}{2}");
  EXPECT_EQ(agieval_strip_math("3/4"), "\\frac{3}{4}");
  EXPECT_EQ(agieval_strip_math("\\left( 1, 2 \\right)"), "(1,2)");
  EXPECT_EQ(agieval_strip_math("90^\\circ"), "90");
  EXPECT_EQ(agieval_strip_math("x = \\sqrt2"), "\\sqrt{2}");
  EXPECT_EQ(agieval_strip_math("5 \\text{ cm}"), "5");
  EXPECT_EQ(agieval_strip_math(".25\\%"), "0.25");
  EXPECT_EQ(agieval_strip_math(".5"), "\\frac{1}{2}");
  // process_results parses both answers and is_equiv parses them again, so a parsed
  // "\\frac{3}{4}" is read a second time as its last number: the harness compares "4" with "4"
  // here, and "12" (of "\\frac12") with "2" (of "\\frac{1}{2}") below.
  EXPECT_TRUE(agieval_math_correct("We get $x = \\frac{3}{4}$", "\\frac{3}{4}"));
  EXPECT_FALSE(agieval_math_correct(" \\boxed{\\frac12}", "$\\frac{1}{2}$"));
  EXPECT_TRUE(agieval_math_correct(" \\boxed{x = 0.5}", "0.5"));
  EXPECT_TRUE(agieval_math_correct("both unparsable", "no number either"));
  EXPECT_TRUE(agieval_math_correct(" 4", "(3,4]"));
  EXPECT_FALSE(agieval_math_correct(" 5", "(3,4]"));
  EXPECT_FALSE(agieval_math_correct(" nothing", "7"));
}

// ---- acceptance 2 ---------------------------------------------------------------------------

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? " " : "") + v[i];
  return s;
}

// The test's own rendering of the part of a prompt that identifies the question: the whole
// zero-shot prompt, or the few-shot prompt's last problem block.
std::string key(const AgievalQuestion& q, bool cloze, int shots) {
  const std::string passage = q.passage.value_or("");
  if (shots == 0) {
    if (cloze) return passage + "Q: " + q.question + "\nA: The answer is";
    const char last = char('A' + (q.options.size() == 1 ? 5 : q.options.size()) - 1);
    return passage + "Q: " + q.question + " Answer Choices: " + joined(q.options) +
           "\nA: Among A through " + std::string(1, last) + ", the answer is";
  }
  if (cloze) return ".   " + q.question + "\nThe answer is therefore";
  return ".   " + passage + " " + q.question +
         "\nChoose from the following options:    " + joined(q.options) +
         "\nThe answer is therefore";
}
std::string key_of_context(const std::string& context, int shots) {
  return shots == 0 ? context : context.substr(context.find(".   ", context.rfind("\nProblem ")));
}

// The oracles keep each prompt's golds in file order and answer them in the order asked: sat-en
// (and sat-en-without-passage) holds one question twice with the labels B and A, so no function
// of the prompt alone can score every question.
class OracleScorer final : public LoglikelihoodScorer {
 public:
  std::unordered_map<std::string, std::deque<char>> gold;
  int shots = 0;
  int64_t unknown = 0;
  std::vector<std::vector<double>> score(const std::vector<ChoiceRequest>& rs) override {
    std::vector<std::vector<double>> out;
    for (const ChoiceRequest& r : rs) {
      std::vector<double> v(r.continuations.size(), -10.0);
      auto it = gold.find(key_of_context(r.context, shots));
      if (it == gold.end() || it->second.empty()) {
        ++unknown;
      } else {
        v.at(size_t(it->second.front() - 'A')) = -1.0;
        it->second.pop_front();
      }
      out.push_back(v);
    }
    return out;
  }
};

class OracleMath final : public eval::TextGenerator {
 public:
  std::unordered_map<std::string, std::deque<std::string>> gold;
  int shots = 0;
  int64_t unknown = 0;
  std::vector<std::string> generate(const std::vector<eval::TextRequest>& rs) override {
    std::vector<std::string> out;
    for (const eval::TextRequest& r : rs) {
      auto it = gold.find(key_of_context(r.context, shots));
      if (it == gold.end() || it->second.empty()) {
        ++unknown;
        out.push_back("");
        continue;
      }
      out.push_back(" " + it->second.front());
      it->second.pop_front();
    }
    return out;
  }
};

// Zero-shot over all 3852 questions; few-shot (3 shots) over four tasks (one with passages,
// sat-en-without-passage with its borrowed exemplars, one without passages, and math) to keep
// the test short.
TEST(Agieval, OracleScoresEveryQuestion) {
  SKIP_WITHOUT_AGIEVAL();
  for (int shots : {0, 3}) {
    OracleScorer scorer;
    OracleMath math;
    scorer.shots = math.shots = shots;
    AgievalOptions o;
    o.path = kAgi;
    o.shots = shots;
    if (shots > 0) o.tasks = {"lsat-ar", "sat-en-without-passage", "aqua-rat", "math"};
    int64_t n = 0;
    for (const std::string& t : o.tasks.empty() ? agieval_tasks() : o.tasks)
      for (const AgievalQuestion& q : load(t)) {
        ++n;
        if (t == "math")
          math.gold[key(q, true, shots)].push_back(q.answer);
        else
          scorer.gold[key(q, false, shots)].push_back(q.label.at(0));
      }
    if (shots == 0) {
      EXPECT_EQ(n, 3852);  // the size PROVENANCE.md verified
    }
    const Config r = AgievalEvaluator(o).score(scorer, math);
    EXPECT_EQ(scorer.unknown, 0) << "the evaluator sent prompts the test did not render";
    EXPECT_EQ(math.unknown, 0);
    EXPECT_EQ(r.at("questions").as_int(), n);
    EXPECT_EQ(r.at("correct").as_int(), n) << r.to_json();
    EXPECT_EQ(r.at("accuracy").as_number(), 1.0);
    if (shots == 0) {
      EXPECT_EQ(r.at("by_task").at("lsat-rc").at("questions").as_int(), 269);
    }
  }
}

// A model with uniform logits. Few-shot, the continuations " A" .. " E" tie and the earliest
// wins: accuracy is the share of gold A. Zero-shot, each option's log-likelihood is -n log V
// for its n byte tokens: the shortest option wins, the earliest among the shortest.
TEST(Agieval, UniformModelTieRule) {
  SKIP_WITHOUT_AGIEVAL();
  testing::UniformModel model(257, 1024);
  auto tok = std::make_shared<testing::ByteTokenizer>();
  for (int shots : {2, 0}) {
    AgievalOptions o;
    o.path = kAgi;
    o.shots = shots;
    o.limit = 6;
    o.tasks = {"aqua-rat", "lsat-ar", "sat-math", "gaokao-english"};
    eval::EvalContext ctx;
    ctx.model = &model;
    ctx.tokenizer = tok;
    ctx.progress = false;
    std::vector<Config> samples;
    ctx.samples = &samples;
    const Config r = AgievalEvaluator(o).evaluate(ctx);
    ASSERT_EQ(samples.size(), 24u);  // one record per question
    int64_t correct = 0;
    for (const Config& s : samples) {
      correct += s.at("correct").as_bool();
      EXPECT_EQ(s.at("choices").size(), s.at("logprobs").size());
    }
    EXPECT_EQ(correct, r.at("correct").as_int());
    EXPECT_EQ(r.at("data_sha256").at("v1/lsat-ar.jsonl").as_string(),
              "3b3e3fe09a07c695326adb82f38da0d67d5bbaadab41551f198c3102f1ea9dc8");  // PROVENANCE.md
    for (const std::string& t : o.tasks) {
      int64_t expected = 0;
      std::vector<AgievalQuestion> qs = load(t);
      qs.resize(6);
      for (const AgievalQuestion& q : qs) {
        size_t pred = 0;
        if (shots == 0)
          for (size_t k = 1; k < q.options.size(); ++k)
            if (q.options[k].size() < q.options[pred].size()) pred = k;
        expected += size_t(q.label.at(0) - 'A') == pred;
      }
      EXPECT_EQ(r.at("by_task").at(t).at("correct").as_int(), expected) << t << " shots " << shots;
    }
  }
}

TEST(Agieval, BadOptionsError) {
  AgievalOptions o;
  o.path = "/nonexistent";
  o.tasks = {"gaokao-chinese"};
  try {
    AgievalEvaluator ev(o);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not one of AGIEval's 10 English tasks"),
              std::string::npos);
  }
  o.tasks = {};
  o.shots = 6;
  EXPECT_THROW(AgievalEvaluator{o}, Error);
}

}  // namespace
}  // namespace kiln::evaluators
