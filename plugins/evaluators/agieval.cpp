#include "plugins/evaluators/agieval.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/base/utf8.h"
#include "core/eval/loglikelihood.h"
#include "core/io/sha256.h"
#include "plugins/evaluators/csv.h"
#include "plugins/evaluators/progress.h"
#include "plugins/evaluators/task_common.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

// AGIEval's english_qa_datasets and english_cloze_datasets (src/dataset_loader.py).
const std::vector<std::string> kTasks = {
    "aqua-rat", "gaokao-english",         "logiqa-en", "lsat-ar", "lsat-lr", "lsat-rc", "math",
    "sat-en",   "sat-en-without-passage", "sat-math"};

// A small reader of Python literals: the few-shot cells are repr()s of dicts.
class PyLiteral {
 public:
  PyLiteral(const std::string& s, const std::string& origin) : s_(s), origin_(origin) {}
  Config parse() {
    Config v = value();
    space();
    if (i_ != s_.size()) fail("text after the literal");
    return v;
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    KILN_FAIL("agieval: ", origin_, ": not a Python literal at offset ", i_, ": ", what);
  }
  void space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\n' || s_[i_] == '\t' || s_[i_] == '\r'))
      ++i_;
  }
  bool word(const char* w) {
    const size_t n = std::char_traits<char>::length(w);
    if (s_.compare(i_, n, w) != 0) return false;
    i_ += n;
    return true;
  }
  uint32_t hex(size_t n) {
    if (i_ + n > s_.size()) fail("a short \\x/\\u escape");
    uint32_t v = 0;
    for (size_t k = 0; k < n; ++k) {
      const char c = s_[i_++];
      v = v * 16 + uint32_t(c >= '0' && c <= '9'   ? c - '0'
                            : c >= 'a' && c <= 'f' ? c - 'a' + 10
                            : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                                   : (fail("a bad hex digit"), 0));
    }
    return v;
  }
  std::string str() {
    const char q = s_[i_++];
    std::string out;
    while (true) {
      if (i_ >= s_.size()) fail("an unterminated string");
      const char c = s_[i_++];
      if (c == q) return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail("an unterminated string");
      const char e = s_[i_++];
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
          out += '\\';
          break;
        case '\'':
          out += '\'';
          break;
        case '"':
          out += '"';
          break;
        case 'x':
          append_utf8(out, hex(2));
          break;
        case 'u':
          append_utf8(out, hex(4));
          break;
        case 'U':
          append_utf8(out, hex(8));
          break;
        default:
          out += '\\', out += e;  // Python keeps unknown escapes verbatim
      }
    }
  }
  Config value() {
    space();
    if (i_ >= s_.size()) fail("the end of the text");
    const char c = s_[i_];
    if (c == '\'' || c == '"') return Config(str());
    if (word("None")) return Config();
    if (word("True")) return Config(true);
    if (word("False")) return Config(false);
    if (c == '[') {
      ++i_;
      Config list = Config::list();
      for (space(); i_ < s_.size() && s_[i_] != ']'; space()) {
        list.push_back(value());
        space();
        if (i_ < s_.size() && s_[i_] == ',') ++i_;
      }
      if (i_ >= s_.size()) fail("an unterminated list");
      ++i_;
      return list;
    }
    if (c == '{') {
      ++i_;
      Config table = Config::table();
      for (space(); i_ < s_.size() && s_[i_] != '}'; space()) {
        space();
        if (i_ >= s_.size() || (s_[i_] != '\'' && s_[i_] != '"'))
          fail("a dict key that is no string");
        std::string key = str();
        space();
        if (i_ >= s_.size() || s_[i_] != ':') fail("a dict entry without ':'");
        ++i_;
        table.set(key, value());
        space();
        if (i_ < s_.size() && s_[i_] == ',') ++i_;
      }
      if (i_ >= s_.size()) fail("an unterminated dict");
      ++i_;
      return table;
    }
    if (c == '-' || (c >= '0' && c <= '9')) {
      size_t start = i_++;
      while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
      return Config(int64_t(std::stoll(s_.substr(start, i_ - start))));
    }
    fail(std::string("an unexpected '") + c + "'");
  }

  const std::string& s_;
  const std::string& origin_;
  size_t i_ = 0;
};

std::optional<std::string> opt_string(const Config& t, const char* key) {
  const Config* v = t.find(key);
  if (!v || v->is_null()) return std::nullopt;
  return v->as_string();
}

AgievalQuestion question_of(const Config& t, const std::string& where) {
  KILN_CHECK(t.is_table(), "agieval: ", where, " is not an object");
  AgievalQuestion q;
  q.passage = opt_string(t, "passage");
  q.question = opt_string(t, "question").value_or("");
  if (const Config* o = t.find("options"); o && !o->is_null())
    for (const Config& item : o->items()) q.options.push_back(item.as_string());
  q.label = opt_string(t, "label").value_or("");
  q.answer = opt_string(t, "answer").value_or("");
  return q;
}

std::string joined(const std::vector<std::string>& v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) out += (i ? " " : "") + v[i];
  return out;
}

// The letter of the last option in AGIEval's "Among A through {X}" (count 1 reads as 5).
char last_letter(const AgievalQuestion& q) {
  size_t n = q.options.size() == 1 ? 5 : q.options.size();
  KILN_CHECK(n >= 1 && n <= 7, "agieval: a question with ", q.options.size(), " options");
  return char('A' + n - 1);
}

// Python's len() of a UTF-8 string: its code points.
double chars(const std::string& s) {
  double n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

const std::vector<std::string>& agieval_tasks() {
  return kTasks;
}

bool agieval_is_cloze(const std::string& task) {
  KILN_CHECK(std::find(kTasks.begin(), kTasks.end(), task) != kTasks.end(), "agieval: \"", task,
             "\" is not one of AGIEval's 10 English tasks");
  return task == "math";
}

Config parse_python_literal(const std::string& text, const std::string& origin) {
  return PyLiteral(text, origin).parse();
}

std::vector<AgievalQuestion> read_agieval_jsonl(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  KILN_CHECK(f, "agieval: cannot read ", path);
  std::vector<AgievalQuestion> out;
  size_t n = 0;
  for (std::string line; std::getline(f, line);) {
    ++n;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = path + ":" + std::to_string(n);
    out.push_back(question_of(Config::from_json(line, where), where));
  }
  return out;
}

std::vector<AgievalQuestion> read_agieval_few_shot(const std::string& csv_path,
                                                   const std::string& task) {
  agieval_is_cloze(task);
  const bool drop_passage = task == "sat-en-without-passage";
  const std::string column = drop_passage ? "sat-en" : task;
  const std::vector<CsvRecord> rows = read_csv(csv_path);
  KILN_CHECK(!rows.empty(), "agieval: ", csv_path, " is empty");
  const auto col = std::find(rows[0].begin(), rows[0].end(), column);
  KILN_CHECK(col != rows[0].end(), "agieval: ", csv_path, " has no column \"", column, "\"");
  const size_t c = size_t(col - rows[0].begin());
  std::vector<AgievalQuestion> out;
  for (size_t r = 1; r < rows.size(); ++r) {
    if (rows[r].empty() || rows[r][0].rfind("sample", 0) != 0) continue;
    if (c >= rows[r].size() || rows[r][c].empty()) continue;
    const std::string where = csv_path + ": " + rows[r][0] + " of " + column;
    AgievalQuestion q = question_of(parse_python_literal(rows[r][c], where), where);
    if (drop_passage) q.passage.reset();
    out.push_back(std::move(q));
  }
  return out;
}

std::string agieval_zero_shot_prompt(const std::string& task, const AgievalQuestion& q) {
  const std::string passage = q.passage.value_or("");
  if (agieval_is_cloze(task)) return passage + "Q: " + q.question + "\nA: The answer is";
  return passage + "Q: " + q.question + " Answer Choices: " + joined(q.options) +
         "\nA: Among A through " + last_letter(q) + ", the answer is";
}

std::string agieval_few_shot_prompt(const std::string& task,
                                    const std::vector<AgievalQuestion>& shots,
                                    const AgievalQuestion& q) {
  const bool cloze = agieval_is_cloze(task);
  auto block = [&](size_t i, const AgievalQuestion& x) {
    if (cloze) return "Problem " + std::to_string(i) + ".   " + x.question + "\n";
    return "Problem " + std::to_string(i) + ".   " + x.passage.value_or("") + " " + x.question +
           "\nChoose from the following options:    " + joined(x.options) + "\n";
  };
  std::string s = "Here are the answers for the problems in the exam.\n";
  for (size_t i = 0; i < shots.size(); ++i)
    s += block(i + 1, shots[i]) + "The answer is therefore " +
         (cloze ? shots[i].answer : shots[i].label) + "\n\n";
  return s + block(shots.size() + 1, q);
}

std::vector<std::vector<double>> ModelScorer::score(const std::vector<ChoiceRequest>& requests) {
  std::vector<eval::LoglikelihoodRequest> flat;
  truncated_ = 0;
  for (const ChoiceRequest& r : requests) {
    std::vector<eval::LoglikelihoodRequest> enc =
        eval::encode_pairs(tokenizer_, r.context, r.continuations, prefix_);
    bool cut = false;
    for (auto& e : enc) {
      cut |= int64_t(e.context.size() + e.continuation.size()) > max_length_ + 1;
      flat.push_back(std::move(e));
    }
    truncated_ += cut;
  }
  eval::LoglikelihoodOptions lo;
  lo.max_length = max_length_;
  lo.batch_size = batch_size_;
  lo.progress = terminal_progress(name_, "requests", progress_);
  lo.cache = cache_;
  const std::vector<eval::LoglikelihoodResult> scored = eval::loglikelihood(model_, flat, lo);
  std::vector<std::vector<double>> out;
  size_t at = 0;
  for (const ChoiceRequest& r : requests) {
    std::vector<double> v;
    for (size_t k = 0; k < r.continuations.size(); ++k) v.push_back(scored[at++].logprob);
    out.push_back(std::move(v));
  }
  return out;
}

AgievalEvaluator::AgievalEvaluator(AgievalOptions options) : options_(std::move(options)) {
  KILN_CHECK(!options_.path.empty(), "agieval: path (the folder holding v1/) is empty");
  for (const std::string& t : options_.tasks) agieval_is_cloze(t);
  KILN_CHECK(options_.shots >= 0 && options_.shots <= 5, "agieval: shots must lie in [0, 5], got ",
             options_.shots);
  KILN_CHECK(!options_.limit || *options_.limit >= 1, "agieval: limit must be >= 1, got ",
             *options_.limit);
  KILN_CHECK(options_.max_tokens >= 1, "agieval: max_tokens must be >= 1, got ",
             options_.max_tokens);
  KILN_CHECK(options_.bos == "none" || options_.bos == "bos",
             "agieval: bos must be \"none\" or \"bos\", got \"", options_.bos, "\"");
}

Config AgievalEvaluator::evaluate(eval::EvalContext& ctx) {
  KILN_CHECK(ctx.model, "agieval: no model to evaluate");
  std::shared_ptr<data::Tokenizer> tokenizer = prompt_tokenizer(ctx, "agieval");
  const int64_t L = options_.context.value_or(ctx.model->context_length());
  KILN_CHECK(L >= 2 && L <= ctx.model->context_length(), "agieval: context must lie in [2, ",
             ctx.model->context_length(), "], got ", L);
  const std::optional<int32_t> bos = prompt_prefix(*tokenizer, options_.bos, "agieval");
  ModelScorer scorer(*ctx.model, *tokenizer, L, ctx.batch_size, bos, ctx.progress, options_.name);
  scorer.set_cache(ctx.cache);
  eval::GenerateUntilOptions go;
  go.max_length = L;
  go.batch_size = ctx.batch_size;
  go.cache = ctx.cache;
  go.progress = terminal_progress(options_.name + " math", "generations", ctx.progress);
  eval::ModelTextGenerator gen(*ctx.model, *tokenizer, go, bos);
  AgievalOptions o = options_;
  o.limit = task_limit(o.limit, ctx.limit);
  Config out = AgievalEvaluator(o).score(scorer, gen, ctx.samples);
  if (o.limit) out.set("limit", *o.limit);
  out.set("questions_truncated", scorer.truncated() + gen.contexts_truncated());
  out.set("context", L);
  out.at("method").set("bos", std::string(bos ? "the prompt starts with token " +
                                                    std::to_string(*bos) + " (bos = \"bos\")"
                                              : "none (lm-evaluation-harness's default)"));
  return out;
}

Config AgievalEvaluator::score(LoglikelihoodScorer& scorer, eval::TextGenerator& generator,
                               std::vector<Config>* samples) const {
  const fs::path root(options_.path);
  const std::vector<std::string>& tasks = options_.tasks.empty() ? agieval_tasks() : options_.tasks;
  struct Item {
    size_t task;
    AgievalQuestion q;
    size_t request;  // into choice or text requests
  };
  std::vector<Item> items;
  std::vector<ChoiceRequest> choice;
  std::vector<eval::TextRequest> text;
  Config sha = Config::table();
  if (options_.shots > 0)
    sha.set("few_shot_prompts.csv", io::sha256_file((root / "few_shot_prompts.csv").string()));
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    const std::string& task = tasks[ti];
    const bool cloze = agieval_is_cloze(task);
    sha.set("v1/" + task + ".jsonl", io::sha256_file((root / "v1" / (task + ".jsonl")).string()));
    std::vector<AgievalQuestion> qs =
        read_agieval_jsonl((root / "v1" / (task + ".jsonl")).string());
    if (options_.limit && int64_t(qs.size()) > *options_.limit) qs.resize(size_t(*options_.limit));
    std::vector<AgievalQuestion> shots;
    if (options_.shots > 0) {
      shots = read_agieval_few_shot((root / "few_shot_prompts.csv").string(), task);
      if (int64_t(shots.size()) > options_.shots) shots.resize(size_t(options_.shots));
    }
    for (AgievalQuestion& q : qs) {
      if (cloze) {
        std::string prompt =
            options_.shots > 0 ? agieval_few_shot_prompt(task, shots, q) + "The answer is therefore"
                               : agieval_zero_shot_prompt(task, q);
        text.push_back({std::move(prompt), {"Q:", "\nProblem"}, options_.max_tokens});
        items.push_back({ti, std::move(q), text.size() - 1});
        continue;
      }
      KILN_CHECK(
          q.label.size() == 1 && q.label[0] >= 'A' && size_t(q.label[0] - 'A') < q.options.size(),
          "agieval: a ", task, " question has the label \"", q.label, "\" for ", q.options.size(),
          " options");
      ChoiceRequest r;
      if (options_.shots > 0) {
        r.context = agieval_few_shot_prompt(task, shots, q) + "The answer is therefore";
        for (size_t k = 0; k < q.options.size(); ++k)
          r.continuations.push_back(std::string(" ") + char('A' + k));
      } else {
        r.context = agieval_zero_shot_prompt(task, q);
        for (const std::string& o : q.options) r.continuations.push_back(" " + o);
      }
      choice.push_back(std::move(r));
      items.push_back({ti, std::move(q), choice.size() - 1});
    }
  }
  KILN_CHECK(!items.empty(), "agieval: no question to score");
  const std::vector<std::vector<double>> lls =
      choice.empty() ? std::vector<std::vector<double>>() : scorer.score(choice);
  const std::vector<std::string> gens =
      text.empty() ? std::vector<std::string>() : generator.generate(text);
  KILN_CHECK(lls.size() == choice.size() && gens.size() == text.size(),
             "agieval: the scorer or generator answered too few requests");

  struct Tally {
    int64_t correct = 0, correct_norm = 0, questions = 0;
  };
  std::vector<Tally> by_task(tasks.size());
  for (const Item& it : items) {
    Tally& t = by_task[it.task];
    ++t.questions;
    if (agieval_is_cloze(tasks[it.task])) {
      const bool ok = agieval_math_correct(gens[it.request], it.q.answer);
      t.correct += ok;
      t.correct_norm += ok;
      if (samples) {
        Config r = Config::table();
        r.set("task", tasks[it.task]);
        r.set("prompt", text[it.request].context);
        r.set("generation", gens[it.request]);
        const std::optional<std::string> parsed = agieval_parse_math_answer(gens[it.request]);
        r.set("extracted", parsed ? Config(*parsed) : Config());
        r.set("gold", it.q.answer);
        r.set("correct", ok);
        samples->push_back(std::move(r));
      }
      continue;
    }
    const std::vector<double>& ll = lls[it.request];
    const ChoiceRequest& r = choice[it.request];
    size_t pred = 0, pred_norm = 0;  // first of the largest (numpy.argmax)
    auto norm = [&](size_t k) {
      // acc_norm divides by the option's length in characters (zero-shot); few-shot's " X"
      // continuations all have one length, so it equals acc there.
      return options_.shots > 0 ? ll[k] : ll[k] / chars(it.q.options[k]);
    };
    for (size_t k = 1; k < ll.size(); ++k) {
      if (ll[k] > ll[pred]) pred = k;
      if (norm(k) > norm(pred_norm)) pred_norm = k;
    }
    const size_t gold = size_t(it.q.label[0] - 'A');
    t.correct += pred == gold;
    t.correct_norm += pred_norm == gold;
    if (samples) {
      Config rec = Config::table();
      rec.set("task", tasks[it.task]);
      rec.set("prompt", r.context);
      Config cs = Config::list(), lps = Config::list();
      for (size_t k = 0; k < ll.size(); ++k) {
        cs.push_back(Config(r.continuations[k]));
        lps.push_back(Config(ll[k]));
      }
      rec.set("choices", cs);
      rec.set("logprobs", lps);
      rec.set("extracted", std::string(1, char('A' + pred)));
      rec.set("gold", it.q.label);
      rec.set("correct", pred == gold);
      rec.set("correct_norm", pred_norm == gold);
      samples->push_back(std::move(rec));
    }
  }

  Config out = Config::table();
  Config per_task = Config::table();
  Tally all;
  double sum = 0, sum_norm = 0;
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    const Tally& t = by_task[ti];
    all.correct += t.correct, all.correct_norm += t.correct_norm, all.questions += t.questions;
    sum += ratio(t.correct, t.questions);
    sum_norm += ratio(t.correct_norm, t.questions);
    Config c = Config::table();
    c.set("accuracy", ratio(t.correct, t.questions));
    if (!agieval_is_cloze(tasks[ti])) c.set("accuracy_norm", ratio(t.correct_norm, t.questions));
    c.set("correct", t.correct);
    c.set("questions", t.questions);
    c.set("scoring", std::string(agieval_is_cloze(tasks[ti]) ? "generation" : "loglikelihood"));
    per_task.set(tasks[ti], c);
  }
  const double n = double(tasks.size());
  out.set("accuracy", sum / n);
  out.set("accuracy_norm", sum_norm / n);
  out.set("accuracy_weighted", ratio(all.correct, all.questions));
  out.set("correct", all.correct);
  out.set("questions", all.questions);
  out.set("tasks", int64_t(tasks.size()));
  out.set("shots", options_.shots);
  out.set("by_task", per_task);
  out.set("data_sha256", sha);
  Config method = Config::table();
  method.set("version", std::string("kiln-agieval-1"));
  method.set("data", options_.path);
  method.set("prompt",
             std::string(options_.shots > 0
                             ? "AGIEval few-shot (src/dataset_loader.py combine_prompt/"
                               "convert_few_shot, no explanations), the first `shots` exemplars "
                               "of few_shot_prompts.csv"
                             : "AGIEval zero-shot (src/dataset_loader.py convert_zero_shot), as "
                               "lm-evaluation-harness's agieval query"));
  method.set("scoring_mc",
             std::string(options_.shots > 0
                             ? "loglikelihood of \" A\", \" B\", ... after the prompt + \"The "
                               "answer is therefore\"; largest wins, ties to the earliest"
                             : "loglikelihood of \" \" + each option; acc: largest, ties to the "
                               "earliest; acc_norm: largest per character of the option"));
  method.set("scoring_math",
             "greedy generation until \"Q:\" or \"\\nProblem\" or " +
                 std::to_string(options_.max_tokens) +
                 " tokens; lm-evaluation-harness agieval parse_math_answer + is_equiv "
                 "(hendrycks/math _strip_string)");
  method.set("average", std::string("accuracy: unweighted mean over tasks"));
  out.set("method", method);
  return out;
}

}  // namespace kiln::evaluators
