// MMLU: prompts against golden strings written by hand from the published template
// (acceptance 1), an oracle model and a uniform model over the whole test set (acceptance 2),
// identical results for batch sizes 1, 8 and 32 (acceptance 5), shots dropped to fit, and the
// category map. The tests that read ../shared/data/mmlu skip when it is absent.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unordered_map>

#include "core/base/error.h"
#include "core/tensor/factory.h"
#include "plugins/evaluators/mmlu.h"
#include "tests/plugins/evaluators/test_models.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;
using testing::ByteTokenizer;
using testing::PositionalBigramModel;
using testing::TinyAttentionModel;

const std::string kMmlu = std::string(KILN_SHARED_DATA) + "/mmlu";

#define SKIP_WITHOUT_MMLU()                                                    \
  if (!fs::is_directory(kMmlu + "/test") || !fs::is_directory(kMmlu + "/dev")) \
  GTEST_SKIP() << "no MMLU data at " << kMmlu << " (see ../shared/data/README.md)"

std::vector<MmluQuestion> load(const std::string& subject, const std::string& split) {
  return read_mmlu_csv(kMmlu + "/" + split + "/" + subject + "_" + split + ".csv");
}

std::string prompt_of(const std::string& subject, int shots,
                      MmluTemplate t = MmluTemplate::original) {
  std::vector<MmluQuestion> dev = load(subject, "dev");
  dev.resize(size_t(shots));
  return mmlu_prompt(subject, dev, load(subject, "test").at(0), t);
}

// ---- acceptance 1: the first test question of three subjects, 0-shot and 5-shot ------------

const char* kAlgebraShots =
    "Find all c in Z_3 such that Z_3[x]/(x^2 + c) is a field.\nA. 0\nB. 1\nC. 2\nD. 3\n"
    "Answer: B\n\n"
    "Statement 1 | If aH is an element of a factor group, then |aH| divides |a|. Statement 2 | "
    "If H and K are subgroups of G then HK is a subgroup of G.\nA. True, True\nB. False, False\n"
    "C. True, False\nD. False, True\nAnswer: B\n\n"
    "Statement 1 | Every element of a group generates a cyclic subgroup of the group. Statement "
    "2 | The symmetric group S_10 has 10 elements.\nA. True, True\nB. False, False\n"
    "C. True, False\nD. False, True\nAnswer: C\n\n"
    "Statement 1| Every function from a finite set onto itself must be one to one. Statement 2 "
    "| Every subgroup of an abelian group is abelian.\nA. True, True\nB. False, False\n"
    "C. True, False\nD. False, True\nAnswer: A\n\n"
    "Find the characteristic of the ring 2Z.\nA. 0\nB. 3\nC. 12\nD. 30\nAnswer: A\n\n";
const char* kAlgebraQuestion =
    "Find the degree for the given field extension Q(sqrt(2), sqrt(3), sqrt(18)) over Q.\n"
    "A. 0\nB. 4\nC. 2\nD. 6\nAnswer:";

// world_religions: questions with a leading space (kept verbatim by the original template),
// a quoted field with "" inside, and a dev file with CRLF line endings.
const char* kReligionShots =
    " What is the sign of the covenant for Jewish males?\nA. The rainbow\nB. Circumcision\n"
    "C. A son\nD. Bar mitzvah\nAnswer: B\n\n"
    "What is the Second Gem in Buddhism?\nA. The Dharma\nB. The Sangha\nC. The Buddha\n"
    "D. The Bodhisattva\nAnswer: A\n\n"
    " In which dynasty was the \"Mandate of Heaven\" developed to legitimatize the new rulers?\n"
    "A. Shang\nB. Zhou\nC. Han\nD. Xia\nAnswer: B\n\n"
    " Which Japanese government promoted a kind of national cult based on the emperor and his "
    "associations with kami?\nA. Honen\nB. Tanaka\nC. Tokugawa\nD. Meiji\nAnswer: D\n\n"
    "How can the Upanishads be characterized?\nA. Ritual texts\nB. Philosophical texts\n"
    "C. Hymns\nD. Origin stories\nAnswer: B\n\n";
const char* kReligionQuestion =
    " What can murtis be translated as?\nA. Offerings\nB. Prayers\nC. Apparitions\nD. Idols\n"
    "Answer:";

const char* kManagementShots =
    "What are the two main dimensions of the Ohio Studies into leadership?\n"
    "A. Starting position and end position\nB. Initial environment and changed environment\n"
    "C. Organisational structure and conditioning\nD. Initiating structure and considerations\n"
    "Answer: D\n\n"
    "Hygiene factors are associated with which writer?\nA. Frederick Hertzberg\n"
    "B. D.C. McClelland\nC. Abraham Maslow\nD. Douglas McGregor\nAnswer: A\n\n"
    "Which element of the cultural web forms regalia?\nA. Symbols\nB. Rituals and routines\n"
    "C. Power structures\nD. Control systems\nAnswer: A\n\n"
    "What characteristic is not a key feature of the 'open systems' model of management?\n"
    "A. Morale\nB. Innovation\nC. Growth resource\nD. Adaptation\nAnswer: A\n\n"
    "How can organisational structures that are characterised by democratic and inclusive "
    "styles of management be described?\nA. Hierarchical\nB. Bureaucratic\nC. Flat\n"
    "D. Functional\nAnswer: C\n\n";
const char* kManagementQuestion =
    "What is the term for a sub-optimal but acceptable outcome of negotiations between "
    "parties?\nA. Bargaining\nB. Satisficing\nC. Accepting\nD. Compromising\nAnswer:";

std::string header(const char* about) {
  return std::string("The following are multiple choice questions (with answers) about ") + about +
         ".\n\n";
}

TEST(Mmlu, PromptsMatchThePublishedTemplate) {
  SKIP_WITHOUT_MMLU();
  EXPECT_EQ(prompt_of("abstract_algebra", 0), header("abstract algebra") + kAlgebraQuestion);
  EXPECT_EQ(prompt_of("abstract_algebra", 5),
            header("abstract algebra") + kAlgebraShots + kAlgebraQuestion);
  EXPECT_EQ(prompt_of("world_religions", 0), header("world religions") + kReligionQuestion);
  EXPECT_EQ(prompt_of("world_religions", 5),
            header("world religions") + kReligionShots + kReligionQuestion);
  EXPECT_EQ(prompt_of("management", 0), header("management") + kManagementQuestion);
  EXPECT_EQ(prompt_of("management", 5),
            header("management") + kManagementShots + kManagementQuestion);
}

TEST(Mmlu, HarnessTemplateStripsTheQuestion) {
  SKIP_WITHOUT_MMLU();
  EXPECT_EQ(prompt_of("world_religions", 0, MmluTemplate::harness),
            header("world religions") + std::string(kReligionQuestion).substr(1));
  std::string shots = kReligionShots;
  for (const char* q : {" What is the sign", " In which dynasty", " Which Japanese"})
    shots.replace(shots.find(q), 1, "");
  EXPECT_EQ(prompt_of("world_religions", 5, MmluTemplate::harness),
            header("world religions") + shots + std::string(kReligionQuestion).substr(1));
}

// ---- models for scoring -------------------------------------------------------------------

// Byte tokens; logits [B, T, V] broadcast from one row of V per sequence (no per-position
// compute): only the prediction after a prompt is read by MMLU's requests.
class PromptKeyedModel : public nn::Model {
 public:
  int64_t vocab_size() const override { return 257; }
  int64_t context_length() const override { return context_; }
  double train_flops_per_token(int64_t) const override { return 0; }
  Tensor forward(const Tensor& tokens, nn::ForwardState&) override {
    const int64_t B = tokens.size(0), T = tokens.size(1);
    const std::vector<int64_t> ids = tokens.to_vector<int64_t>();
    std::vector<double> rows(size_t(B * 257), 0.0);
    for (int64_t b = 0; b < B; ++b) {
      // The engine right-pads with token 0, a byte MMLU's text never holds.
      int64_t n = T;
      while (n > 0 && ids[size_t(b * T + n - 1)] == 0) --n;
      std::string text(size_t(n), '\0');
      for (int64_t t = 0; t < n; ++t) text[size_t(t)] = char(ids[size_t(b * T + t)]);
      row(text, rows.data() + b * 257);
    }
    return from_vector(rows, {B, 1, 257}).expand({B, T, 257});
  }
  int64_t context_ = 1 << 16;

 protected:
  virtual void row(const std::string& text, double* logits) = 0;
};

// Knows the gold letter of every prompt (keyed by the prompt's text as the test renders it):
// the letter gets logit 10, everything else 0. The model reads prompt + " " (the continuation
// " X" is two byte tokens) and scores the letter after the space.
class OracleModel final : public PromptKeyedModel {
 public:
  std::unordered_map<std::string, char> gold;
  int64_t unknown = 0;

 private:
  void row(const std::string& text, double* logits) override {
    auto it = gold.find(text);
    if (it == gold.end()) {
      ++unknown;
      return;
    }
    logits[static_cast<unsigned char>(it->second)] = 10.0;
  }
};

// Every logit 0: the four answers tie.
class FlatModel final : public PromptKeyedModel {
  void row(const std::string&, double*) override {}
};

// The test's own prompt, from the template, independent of mmlu_prompt.
std::string render(const std::string& subject, const std::vector<MmluQuestion>& shots,
                   const MmluQuestion& q) {
  std::string about = subject;
  for (char& c : about)
    if (c == '_') c = ' ';
  std::string s =
      "The following are multiple choice questions (with answers) about " + about + ".\n\n";
  auto block = [](const MmluQuestion& x) {
    return x.question + "\nA. " + x.choices[0] + "\nB. " + x.choices[1] + "\nC. " + x.choices[2] +
           "\nD. " + x.choices[3] + "\nAnswer:";
  };
  for (const MmluQuestion& shot : shots)
    s += block(shot) + " " + std::string(1, char('A' + shot.answer)) + "\n\n";
  return s + block(q);
}

std::vector<std::string> all_subjects() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kMmlu + "/test")) {
    std::string f = e.path().filename().string();
    out.push_back(f.substr(0, f.size() - std::string("_test.csv").size()));
  }
  std::sort(out.begin(), out.end());
  return out;
}

MmluOptions options(int64_t shots) {
  MmluOptions o;
  o.path = kMmlu;
  o.shots = shots;
  return o;
}

// ---- acceptance 2 -------------------------------------------------------------------------

// The oracle over all 14042 test questions 0-shot (the bytes read grow with the shots, and
// 5-shot prompts are five times longer: 0-shot keeps the test cheap), and 5-shot over three
// subjects (one with CRLF files and leading spaces, one with the longest prompts).
TEST(Mmlu, OracleScoresEveryTestQuestion) {
  SKIP_WITHOUT_MMLU();
  for (int shots : {0, 5}) {
    OracleModel oracle;
    MmluOptions o = options(shots);
    if (shots > 0)
      o.subjects = {"abstract_algebra", "world_religions", "high_school_european_history"};
    int64_t questions = 0;
    for (const std::string& s : o.subjects.empty() ? all_subjects() : o.subjects) {
      std::vector<MmluQuestion> dev = load(s, "dev");
      dev.resize(size_t(shots));
      for (const MmluQuestion& q : load(s, "test")) {
        oracle.gold[render(s, dev, q) + " "] = char('A' + q.answer);
        ++questions;
      }
    }
    if (shots == 0) {
      EXPECT_EQ(questions, 14042);  // the published size of the test split
    }
    ByteTokenizer tok;
    Config r = MmluEvaluator(o).score(oracle, tok, 32);
    EXPECT_EQ(oracle.unknown, 0) << "the evaluator sent prompts the test did not render";
    EXPECT_EQ(r.at("questions").as_int(), questions);
    EXPECT_EQ(r.at("correct").as_int(), questions);
    EXPECT_EQ(r.at("accuracy").as_number(), 1.0);
    EXPECT_EQ(r.at("accuracy_subjects").as_number(), 1.0);
    EXPECT_EQ(r.at("shots_dropped").as_int(), 0);
    if (shots > 0) continue;
    for (const char* c :
         {"accuracy_stem", "accuracy_humanities", "accuracy_social_sciences", "accuracy_other"})
      EXPECT_EQ(r.at(c).as_number(), 1.0) << c;
    EXPECT_EQ(r.at("subjects").as_int(), 57);
    EXPECT_EQ(r.at("by_subject").at("professional_law").at("questions").as_int(), 1534);
  }
}

// Ties go to the earliest letter: a model that cannot tell the answers apart answers "A"
// everywhere, so its accuracy is the share of questions whose gold answer is A.
TEST(Mmlu, UniformModelAnswersAEverywhere) {
  SKIP_WITHOUT_MMLU();
  FlatModel flat;
  ByteTokenizer tok;
  Config r = MmluEvaluator(options(0)).score(flat, tok, 8);
  int64_t gold_a = 0, total = 0;
  double subject_sum = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> by_category;
  for (const std::string& s : all_subjects()) {
    int64_t a = 0, n = 0;
    for (const MmluQuestion& q : load(s, "test")) a += q.answer == 0, ++n;
    gold_a += a, total += n;
    subject_sum += double(a) / double(n);
    by_category[mmlu_category(s)].first += a;
    by_category[mmlu_category(s)].second += n;
    EXPECT_EQ(r.at("by_subject").at(s).at("correct").as_int(), a) << s;
  }
  EXPECT_EQ(r.at("correct").as_int(), gold_a);
  EXPECT_DOUBLE_EQ(r.at("accuracy").as_number(), double(gold_a) / double(total));
  EXPECT_DOUBLE_EQ(r.at("accuracy_subjects").as_number(), subject_sum / 57.0);
  for (const auto& [cat, t] : by_category)
    EXPECT_DOUBLE_EQ(r.at("accuracy_" + cat).as_number(), double(t.first) / double(t.second))
        << cat;
}

// ---- acceptance 5 -------------------------------------------------------------------------

// A real-kernel model in f64 and in f32 (run batch-invariant, so every row is computed the same
// whatever the rows beside it) and the closed-form bigram: the whole results (per-subject
// accuracies included) are equal at batch sizes 1, 8 and 32. The context (400 bytes) holds some
// prompts whole and others with shots dropped, so the rows of a batch have different lengths
// and are padded differently.
TEST(Mmlu, IdenticalForBatchSizes1_8_32) {
  SKIP_WITHOUT_MMLU();
  ByteTokenizer tok;
  MmluOptions o = options(5);
  o.subjects = {"abstract_algebra", "world_religions", "management"};
  o.limit = 12;
  TinyAttentionModel kernel(257, 400, DType::f64), kernel32(257, 400, DType::f32);
  PositionalBigramModel bigram(257, 400);
  for (nn::Model* m : std::initializer_list<nn::Model*>{&kernel, &kernel32, &bigram}) {
    MmluEvaluator ev(o);
    const Config r1 = ev.score(*m, tok, 1);
    EXPECT_GT(r1.at("shots_dropped").as_int(), 0);
    for (int64_t batch : {8, 32}) EXPECT_EQ(r1, ev.score(*m, tok, batch)) << r1.to_json();
  }
}

// ---- shots that do not fit ----------------------------------------------------------------

TEST(Mmlu, DropsShotsFromTheFrontToFitTheContext) {
  SKIP_WITHOUT_MMLU();
  // The longest prompt the model may read with k shots kept, for the first management
  // question: the rendered prompt plus " " (the answer is " X", two bytes; the model reads all
  // but the last).
  std::vector<MmluQuestion> dev = load("management", "dev");
  const MmluQuestion q = load("management", "test").at(0);
  auto length = [&](int keep) {  // the last `keep` shots
    std::vector<MmluQuestion> shots(dev.end() - keep, dev.end());
    return int64_t(render("management", shots, q).size()) + 1;
  };
  OracleModel oracle;
  for (int keep = 0; keep <= 5; ++keep) {
    std::vector<MmluQuestion> shots(dev.end() - keep, dev.end());
    oracle.gold[render("management", shots, q) + " "] = char('A' + q.answer);
  }
  ByteTokenizer tok;
  MmluOptions o = options(5);
  o.subjects = {"management"};
  o.limit = 1;
  for (int keep = 0; keep <= 5; ++keep) {
    oracle.context_ = length(keep);  // fits exactly `keep` shots
    Config r = MmluEvaluator(o).score(oracle, tok, 8);
    EXPECT_EQ(r.at("shots_dropped").as_int(), 5 - keep) << keep;
    EXPECT_EQ(r.at("questions_with_shots_dropped").as_int(), keep < 5 ? 1 : 0);
    EXPECT_EQ(r.at("questions_truncated").as_int(), 0);
    EXPECT_EQ(r.at("correct").as_int(), 1) << keep;
  }
  oracle.context_ = length(0) - 1;  // not even the question fits: cut from the left
  Config r = MmluEvaluator(o).score(oracle, tok, 8);
  EXPECT_EQ(r.at("shots_dropped").as_int(), 5);
  EXPECT_EQ(r.at("questions_truncated").as_int(), 1);
}

// ---- categories and errors ----------------------------------------------------------------

TEST(Mmlu, CategoryMapCoversTheFiftySevenSubjects) {
  std::map<std::string, int> count;
  const std::vector<std::string> subjects = {
      "abstract_algebra", "anatomy",         "astronomy",    "formal_logic",     "econometrics",
      "professional_law", "human_sexuality", "global_facts", "machine_learning", "virology"};
  for (const std::string& s : subjects) ++count[mmlu_category(s)];
  // Spot checks from hendrycks/test categories.py: anatomy is "health", so "other".
  EXPECT_STREQ(mmlu_category("anatomy"), "other");
  EXPECT_STREQ(mmlu_category("abstract_algebra"), "stem");
  EXPECT_STREQ(mmlu_category("formal_logic"), "humanities");
  EXPECT_STREQ(mmlu_category("human_sexuality"), "social_sciences");
  EXPECT_STREQ(mmlu_category("machine_learning"), "stem");
  EXPECT_THROW(mmlu_category("astrology"), Error);
  if (!fs::is_directory(kMmlu + "/test")) return;
  std::map<std::string, int> n;
  for (const std::string& s : all_subjects()) ++n[mmlu_category(s)];
  EXPECT_EQ(n["stem"], 18);
  EXPECT_EQ(n["humanities"], 13);
  EXPECT_EQ(n["social_sciences"], 12);
  EXPECT_EQ(n["other"], 14);
}

TEST(Mmlu, BadFilesAndOptionsError) {
  const fs::path dir = fs::temp_directory_path() / "kiln_mmlu_bad";
  fs::create_directories(dir / "test");
  { std::ofstream(dir / "test" / "anatomy_test.csv") << "q,a,b,c,d,A\r\n\"q2\",a,b,c,d,E\n"; }
  try {
    read_mmlu_csv((dir / "test" / "anatomy_test.csv").string());
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("record 2 has the answer \"E\""), std::string::npos)
        << e.what();
  }
  MmluOptions o;
  o.path = dir.string();
  o.shots = 0;
  o.subjects = {"anatomy", "astrology"};
  ByteTokenizer tok;
  FlatModel flat;
  try {
    MmluEvaluator(o).score(flat, tok, 8);
    ADD_FAILURE() << "no error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("subject \"astrology\" has no file"), std::string::npos)
        << e.what();
  }
  o.path = (dir / "nowhere").string();
  EXPECT_THROW(MmluEvaluator(o).score(flat, tok, 8), Error);
  o.shots = -1;
  EXPECT_THROW(MmluEvaluator{o}, Error);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace kiln::evaluators
