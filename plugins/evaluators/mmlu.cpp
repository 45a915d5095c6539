#include "plugins/evaluators/mmlu.h"

#include <algorithm>
#include <filesystem>
#include <map>

#include "core/eval/loglikelihood.h"
#include "plugins/evaluators/csv.h"
#include "plugins/evaluators/progress.h"
#include "plugins/evaluators/task_common.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 4> kLetters = {"A", "B", "C", "D"};

// The authors' categories.py maps each subject to a subcategory and each subcategory to one of
// four categories; these lists are that map flattened (18 + 13 + 12 + 14 = 57 subjects).
const std::map<std::string, const char*>& category_map() {
  static const std::map<std::string, const char*> m = [] {
    std::map<std::string, const char*> out;
    for (const char* s : {"abstract_algebra", "astronomy", "college_biology", "college_chemistry",
                          "college_computer_science", "college_mathematics", "college_physics",
                          "computer_security", "conceptual_physics", "electrical_engineering",
                          "elementary_mathematics", "high_school_biology", "high_school_chemistry",
                          "high_school_computer_science", "high_school_mathematics",
                          "high_school_physics", "high_school_statistics", "machine_learning"})
      out[s] = "stem";
    for (const char* s : {"formal_logic", "high_school_european_history", "high_school_us_history",
                          "high_school_world_history", "international_law", "jurisprudence",
                          "logical_fallacies", "moral_disputes", "moral_scenarios", "philosophy",
                          "prehistory", "professional_law", "world_religions"})
      out[s] = "humanities";
    for (const char* s :
         {"econometrics", "high_school_geography", "high_school_government_and_politics",
          "high_school_macroeconomics", "high_school_microeconomics", "high_school_psychology",
          "human_sexuality", "professional_psychology", "public_relations", "security_studies",
          "sociology", "us_foreign_policy"})
      out[s] = "social_sciences";
    for (const char* s :
         {"anatomy", "business_ethics", "clinical_knowledge", "college_medicine", "global_facts",
          "human_aging", "management", "marketing", "medical_genetics", "miscellaneous",
          "nutrition", "professional_accounting", "professional_medicine", "virology"})
      out[s] = "other";
    return out;
  }();
  return m;
}

constexpr std::array<const char*, 4> kCategories = {"stem", "humanities", "social_sciences",
                                                    "other"};

std::string strip(const std::string& s) {
  // Python's str.strip() for the ASCII whitespace MMLU holds (space, \t, \n, \r, \v, \f).
  auto space = [](char c) { return c == ' ' || (c >= '\t' && c <= '\r'); };
  size_t a = 0, b = s.size();
  while (a < b && space(s[a])) ++a;
  while (b > a && space(s[b - 1])) --b;
  return s.substr(a, b - a);
}

// The subjects of a split: the stems of DIR/<split>/<subject>_<split>.csv, sorted.
std::vector<std::string> list_subjects(const fs::path& dir, const std::string& split) {
  std::error_code ec;
  KILN_CHECK(fs::is_directory(dir, ec), "mmlu: ", dir.string(),
             ": no such folder (path must hold MMLU's dev/, val/ and test/ folders)");
  const std::string suffix = "_" + split + ".csv";
  std::vector<std::string> subjects;
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string f = e.path().filename().string();
    if (f.size() > suffix.size() && f.ends_with(suffix))
      subjects.push_back(f.substr(0, f.size() - suffix.size()));
  }
  std::sort(subjects.begin(), subjects.end());
  KILN_CHECK(!subjects.empty(), "mmlu: no <subject>", suffix, " file in ", dir.string());
  return subjects;
}

}  // namespace

std::vector<MmluQuestion> read_mmlu_csv(const std::string& path) {
  std::vector<MmluQuestion> out;
  const std::vector<CsvRecord> records = read_csv(path);
  for (size_t i = 0; i < records.size(); ++i) {
    const CsvRecord& r = records[i];
    KILN_CHECK(r.size() == 6, "mmlu: ", path, ": record ", i + 1, " has ", r.size(),
               " fields; expected 6 (question, A, B, C, D, answer)");
    MmluQuestion q;
    q.question = r[0];
    for (size_t c = 0; c < 4; ++c) q.choices[c] = r[c + 1];
    const std::string a = strip(r[5]);
    KILN_CHECK(a.size() == 1 && a[0] >= 'A' && a[0] <= 'D', "mmlu: ", path, ": record ", i + 1,
               " has the answer \"", r[5], "\"; expected A, B, C or D");
    q.answer = a[0] - 'A';
    out.push_back(std::move(q));
  }
  return out;
}

std::string mmlu_header(const std::string& subject) {
  std::string s = subject;
  std::replace(s.begin(), s.end(), '_', ' ');
  return "The following are multiple choice questions (with answers) about " + s + ".\n\n";
}

std::string mmlu_format(const MmluQuestion& q, bool with_answer, MmluTemplate t) {
  std::string s = t == MmluTemplate::harness ? strip(q.question) : q.question;
  for (size_t c = 0; c < 4; ++c) s += std::string("\n") + kLetters[c] + ". " + q.choices[c];
  s += "\nAnswer:";
  if (with_answer) s += std::string(" ") + kLetters[size_t(q.answer)] + "\n\n";
  return s;
}

std::string mmlu_prompt(const std::string& subject, const std::vector<MmluQuestion>& shots,
                        const MmluQuestion& q, MmluTemplate t) {
  std::string s = mmlu_header(subject);
  for (const MmluQuestion& shot : shots) s += mmlu_format(shot, true, t);
  return s + mmlu_format(q, false, t);
}

const char* mmlu_category(const std::string& subject) {
  auto it = category_map().find(subject);
  KILN_CHECK(it != category_map().end(), "mmlu: \"", subject,
             "\" is not one of MMLU's 57 subjects (no category for it)");
  return it->second;
}

MmluEvaluator::MmluEvaluator(MmluOptions options) : options_(std::move(options)) {
  KILN_CHECK(!options_.path.empty(), "mmlu: path (the folder holding dev/ and test/) is empty");
  KILN_CHECK(options_.split == "dev" || options_.split == "val" || options_.split == "test",
             "mmlu: split must be \"dev\", \"val\" or \"test\", got \"", options_.split, "\"");
  KILN_CHECK(options_.shots >= 0, "mmlu: shots must be >= 0, got ", options_.shots);
  KILN_CHECK(!options_.limit || *options_.limit >= 1, "mmlu: limit must be >= 1, got ",
             *options_.limit);
  KILN_CHECK(!options_.context || *options_.context >= 2, "mmlu: context must be >= 2, got ",
             *options_.context);
  KILN_CHECK(options_.bos == "none" || options_.bos == "bos",
             "mmlu: bos must be \"none\" or \"bos\", got \"", options_.bos, "\"");
}

Config MmluEvaluator::evaluate(eval::EvalContext& ctx) {
  KILN_CHECK(ctx.model, "mmlu: no model to evaluate");
  std::shared_ptr<data::Tokenizer> tokenizer = prompt_tokenizer(ctx, "mmlu");
  if (ctx.limit) {  // kiln eval --limit N: at most N questions per subject
    MmluOptions o = options_;
    o.limit = task_limit(o.limit, ctx.limit);
    return MmluEvaluator(o).score(*ctx.model, *tokenizer, ctx.batch_size, ctx.progress, ctx.samples,
                                  ctx.cache);
  }
  return score(*ctx.model, *tokenizer, ctx.batch_size, ctx.progress, ctx.samples, ctx.cache);
}

Config MmluEvaluator::score(nn::Model& model, const data::Tokenizer& tokenizer, int64_t batch_size,
                            bool progress, std::vector<Config>* samples,
                            eval::RequestCache* cache) const {
  const fs::path root(options_.path);
  const int64_t L = options_.context.value_or(model.context_length());
  KILN_CHECK(L >= 2 && L <= model.context_length(), "mmlu: context must lie in [2, ",
             model.context_length(), "] (the model's context length), got ", L);
  const std::optional<int32_t> bos = prompt_prefix(tokenizer, options_.bos, "mmlu");

  std::vector<std::string> subjects = list_subjects(root / options_.split, options_.split);
  if (!options_.subjects.empty()) {
    for (const std::string& s : options_.subjects)
      KILN_CHECK(std::find(subjects.begin(), subjects.end(), s) != subjects.end(),
                 "mmlu: subject \"", s, "\" has no file ",
                 (root / options_.split / (s + "_" + options_.split + ".csv")).string());
    subjects = options_.subjects;
  }

  // Every question's four requests, in subject and question order.
  struct Item {
    size_t subject;
    int answer;
    int64_t shots_dropped;
    bool truncated;
    std::string prompt;  // kept only for samples
  };
  std::vector<Item> items;
  std::vector<eval::LoglikelihoodRequest> requests;
  for (size_t si = 0; si < subjects.size(); ++si) {
    const std::string& subject = subjects[si];
    mmlu_category(subject);  // an unknown subject fails before any scoring
    std::vector<MmluQuestion> questions =
        read_mmlu_csv((root / options_.split / (subject + "_" + options_.split + ".csv")).string());
    if (options_.limit && int64_t(questions.size()) > *options_.limit)
      questions.resize(size_t(*options_.limit));
    std::vector<MmluQuestion> shots;
    if (options_.shots > 0) {
      const std::string dev = (root / "dev" / (subject + "_dev.csv")).string();
      shots = read_mmlu_csv(dev);
      KILN_CHECK(int64_t(shots.size()) >= options_.shots, "mmlu: ", options_.shots,
                 " shots asked, but ", dev, " holds ", shots.size(), " questions");
      shots.resize(size_t(options_.shots));
    }
    for (const MmluQuestion& q : questions) {
      // Drop shots from the front until the prompt and every answer fit in L + 1 tokens (the
      // model reads all but the last).
      std::vector<eval::LoglikelihoodRequest> four;
      int64_t k = int64_t(shots.size());
      for (;; --k) {
        const std::vector<MmluQuestion> used(shots.end() - k, shots.end());
        const std::string prompt = mmlu_prompt(subject, used, q, options_.prompt);
        four = eval::encode_pairs(tokenizer, prompt, {" A", " B", " C", " D"}, bos);
        size_t longest = 0;
        for (const auto& r : four)
          longest = std::max(longest, r.context.size() + r.continuation.size());
        if (int64_t(longest) <= L + 1 || k == 0) {
          items.push_back({si, q.answer, int64_t(shots.size()) - k, int64_t(longest) > L + 1,
                           samples ? prompt : std::string()});
          break;
        }
      }
      for (auto& r : four) requests.push_back(std::move(r));
    }
  }
  KILN_CHECK(!items.empty(), "mmlu: no question to score");

  eval::LoglikelihoodOptions lo;
  lo.max_length = L;
  lo.batch_size = batch_size;
  lo.cache = cache;
  lo.progress = terminal_progress(options_.name, "requests", progress);
  const std::vector<eval::LoglikelihoodResult> scored = eval::loglikelihood(model, requests, lo);

  struct Tally {
    int64_t correct = 0, questions = 0;
  };
  std::vector<Tally> by_subject(subjects.size());
  int64_t dropped = 0, with_dropped = 0, truncated = 0;
  for (size_t i = 0; i < items.size(); ++i) {
    int pred = 0;  // the first of the largest: ties go to the earliest letter
    for (int c = 1; c < 4; ++c)
      if (scored[i * 4 + size_t(c)].logprob > scored[i * 4 + size_t(pred)].logprob) pred = c;
    Tally& t = by_subject[items[i].subject];
    ++t.questions;
    t.correct += pred == items[i].answer;
    dropped += items[i].shots_dropped;
    with_dropped += items[i].shots_dropped > 0;
    truncated += items[i].truncated;
    if (samples) {
      Config r = Config::table();
      r.set("task", subjects[items[i].subject]);
      r.set("prompt", items[i].prompt);
      Config choices = Config::list(), logprobs = Config::list();
      for (size_t c = 0; c < 4; ++c) {
        choices.push_back(Config(std::string(" ") + kLetters[c]));
        logprobs.push_back(Config(scored[i * 4 + c].logprob));
      }
      r.set("choices", choices);
      r.set("logprobs", logprobs);
      r.set("extracted", std::string(kLetters[size_t(pred)]));
      r.set("gold", std::string(kLetters[size_t(items[i].answer)]));
      r.set("correct", pred == items[i].answer);
      samples->push_back(std::move(r));
    }
  }

  Config out = Config::table();
  Tally all;
  double subject_sum = 0;
  std::map<std::string, Tally> by_category;
  std::map<std::string, int64_t> category_subjects;
  Config per_subject = Config::table();
  for (size_t si = 0; si < subjects.size(); ++si) {
    const Tally& t = by_subject[si];
    all.correct += t.correct;
    all.questions += t.questions;
    subject_sum += ratio(t.correct, t.questions);
    const char* cat = mmlu_category(subjects[si]);
    by_category[cat].correct += t.correct;
    by_category[cat].questions += t.questions;
    ++category_subjects[cat];
    Config s = Config::table();
    s.set("accuracy", ratio(t.correct, t.questions));
    s.set("correct", t.correct);
    s.set("questions", t.questions);
    s.set("category", std::string(cat));
    per_subject.set(subjects[si], s);
  }
  out.set("accuracy", ratio(all.correct, all.questions));
  out.set("accuracy_subjects", subject_sum / double(subjects.size()));
  Config per_category = Config::table();
  for (const char* cat : kCategories) {
    auto it = by_category.find(cat);
    if (it == by_category.end()) continue;
    out.set(std::string("accuracy_") + cat, ratio(it->second.correct, it->second.questions));
    Config c = Config::table();
    c.set("accuracy", ratio(it->second.correct, it->second.questions));
    c.set("correct", it->second.correct);
    c.set("questions", it->second.questions);
    c.set("subjects", category_subjects[cat]);
    per_category.set(cat, c);
  }
  out.set("correct", all.correct);
  out.set("questions", all.questions);
  out.set("subjects", int64_t(subjects.size()));
  out.set("shots", options_.shots);
  out.set("shots_dropped", dropped);
  out.set("questions_with_shots_dropped", with_dropped);
  out.set("questions_truncated", truncated);
  out.set("context", L);
  out.set("requests", int64_t(requests.size()));
  out.set("by_category", per_category);
  out.set("by_subject", per_subject);
  Config method = Config::table();
  method.set("version", std::string("kiln-mmlu-1"));
  method.set("data", options_.path);
  method.set("split", options_.split);
  method.set("prompt", std::string(options_.prompt == MmluTemplate::harness
                                       ? "harness: lm-evaluation-harness mmlu doc_to_text "
                                         "({{question.strip()}}), header and shots as original"
                                       : "original: hendrycks/test evaluate.py format_example, "
                                         "fields verbatim"));
  method.set("fewshot", std::string("the first `shots` questions of dev/<subject>_dev.csv, in file "
                                    "order; shots that do not fit the context dropped from the "
                                    "front"));
  method.set("scoring",
             std::string("loglikelihood of \" A\", \" B\", \" C\", \" D\" after the "
                         "prompt (context and continuation tokenised as the harness's "
                         "_encode_pair); the largest wins, ties to the earliest letter"));
  method.set("bos", std::string(bos ? "the prompt starts with token " + std::to_string(*bos) +
                                          " (bos = \"bos\")"
                                    : "none (lm-evaluation-harness's default add_bos_token = "
                                      "False)"));
  method.set("categories", std::string("hendrycks/test categories.py (subcategory -> STEM, "
                                       "humanities, social sciences, other); category accuracy "
                                       "weighted by questions"));
  out.set("method", method);
  return out;
}

}  // namespace kiln::evaluators
