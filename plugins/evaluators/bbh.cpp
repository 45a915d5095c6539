#include "plugins/evaluators/bbh.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/io/sha256.h"
#include "plugins/evaluators/progress.h"
#include "plugins/evaluators/task_common.h"

namespace kiln::evaluators {
namespace {

namespace fs = std::filesystem;

const std::map<std::string, BbhAnswerFormat>& format_map() {
  static const std::map<std::string, BbhAnswerFormat> m = [] {
    std::map<std::string, BbhAnswerFormat> out;
    for (const char* t :
         {"date_understanding", "disambiguation_qa", "geometric_shapes", "hyperbaton",
          "logical_deduction_five_objects", "logical_deduction_seven_objects",
          "logical_deduction_three_objects", "movie_recommendation", "penguins_in_a_table",
          "reasoning_about_colored_objects", "ruin_names", "salient_translation_error_detection",
          "snarks", "temporal_sequences", "tracking_shuffled_objects_five_objects",
          "tracking_shuffled_objects_seven_objects", "tracking_shuffled_objects_three_objects"})
      out[t] = BbhAnswerFormat::multiple_choice;
    for (const char* t : {"boolean_expressions", "causal_judgement", "formal_fallacies", "navigate",
                          "sports_understanding", "web_of_lies"})
      out[t] = BbhAnswerFormat::binary;
    out["multistep_arithmetic_two"] = BbhAnswerFormat::number;
    out["object_counting"] = BbhAnswerFormat::number;
    out["word_sorting"] = BbhAnswerFormat::word_list;
    out["dyck_languages"] = BbhAnswerFormat::dyck;
    return out;
  }();
  return m;
}

bool is_space(char c) {
  return c == ' ' || (c >= '\t' && c <= '\r');
}

std::string trim(std::string_view s) {
  size_t a = 0, b = s.size();
  while (a < b && is_space(s[a])) ++a;
  while (b > a && is_space(s[b - 1])) --b;
  return std::string(s.substr(a, b - a));
}

// Trimmed, then one final period removed (and the whitespace before it).
std::string drop_period(std::string_view s) {
  std::string t = trim(s);
  if (!t.empty() && t.back() == '.') t = trim(std::string_view(t).substr(0, t.size() - 1));
  return t;
}

std::string read_file(const std::string& path, const char* what) {
  std::ifstream f(path, std::ios::binary);
  KILN_CHECK(f, "bbh: cannot read ", what, " ", path);
  std::ostringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string lower(std::string s) {
  for (char& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool word_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// The last non-empty line of s, trimmed ("" when none).
std::string last_line(const std::string& s) {
  std::string out;
  std::istringstream in(s);
  for (std::string line; std::getline(in, line);)
    if (!trim(line).empty()) out = trim(line);
  return out;
}

std::optional<std::string> last_option(const std::string& s) {
  for (size_t i = s.size(); i >= 3; --i) {
    const size_t p = i - 3;
    if (s[p] == '(' && s[p + 1] >= 'A' && s[p + 1] <= 'Z' && s[p + 2] == ')') return s.substr(p, 3);
  }
  return std::nullopt;
}

std::optional<std::string> last_label(const std::string& s,
                                      const std::vector<std::string>& labels) {
  const std::string l = lower(s);
  size_t best_pos = std::string::npos;
  std::string best;
  for (const std::string& label : labels) {
    const std::string w = lower(label);
    for (size_t p = l.find(w); p != std::string::npos; p = l.find(w, p + 1)) {
      const bool left = p == 0 || !word_char(l[p - 1]);
      const bool right = p + w.size() == l.size() || !word_char(l[p + w.size()]);
      if (left && right && (best_pos == std::string::npos || p > best_pos)) {
        best_pos = p;
        best = label;
      }
    }
  }
  if (best_pos == std::string::npos) return std::nullopt;
  return best;
}

std::optional<std::string> last_number(const std::string& s) {
  // Scan for maximal runs of [-]digits[,digits][.digits]; keep the last.
  std::optional<std::string> out;
  for (size_t i = 0; i < s.size();) {
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) {
      ++i;
      continue;
    }
    const size_t start = i;
    std::string digits;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) ||
                            (s[i] == ',' && i + 1 < s.size() &&
                             std::isdigit(static_cast<unsigned char>(s[i + 1]))))) {
      if (s[i] != ',') digits += s[i];
      ++i;
    }
    if (i + 1 < s.size() && s[i] == '.' && std::isdigit(static_cast<unsigned char>(s[i + 1]))) {
      std::string frac;
      for (++i; i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])); ++i) frac += s[i];
      if (frac.find_first_not_of('0') != std::string::npos) digits += "." + frac;
    }
    if (start > 0 && s[start - 1] == '-') digits = "-" + digits;
    out = digits;
  }
  return out;
}

std::string collapse_words(std::string s) {
  std::replace(s.begin(), s.end(), ',', ' ');
  std::istringstream in(drop_period(s));
  std::string out, w;
  while (in >> w) out += (out.empty() ? "" : " ") + w;
  return out;
}

std::string brackets_only(const std::string& s) {
  std::string out;
  for (char c : s)
    if (std::string_view("()[]{}<>").find(c) != std::string_view::npos) {
      if (!out.empty()) out += ' ';
      out += c;
    }
  return out;
}

}  // namespace

const std::vector<std::string>& bbh_tasks() {
  static const std::vector<std::string> tasks = [] {
    std::vector<std::string> out;
    for (const auto& [t, f] : format_map()) out.push_back(t);
    return out;
  }();
  return tasks;
}

BbhAnswerFormat bbh_answer_format(const std::string& task) {
  auto it = format_map().find(task);
  KILN_CHECK(it != format_map().end(), "bbh: \"", task, "\" is not one of BBH's 27 tasks");
  return it->second;
}

std::vector<std::string> bbh_binary_labels(const std::string& task) {
  if (bbh_answer_format(task) != BbhAnswerFormat::binary) return {};
  if (task == "boolean_expressions") return {"True", "False"};
  if (task == "formal_fallacies") return {"valid", "invalid"};
  if (task == "sports_understanding") return {"yes", "no"};
  return {"Yes", "No"};
}

std::vector<BbhExample> read_bbh_task(const std::string& path) {
  const Config doc = Config::from_json(read_file(path, "task file"), path);
  const Config* examples = doc.is_table() ? doc.find("examples") : nullptr;
  KILN_CHECK(examples && examples->is_list(), "bbh: ", path,
             " has no \"examples\" list (expected BBH's {\"examples\": [{\"input\", "
             "\"target\"}]})");
  std::vector<BbhExample> out;
  for (size_t i = 0; i < examples->items().size(); ++i) {
    const Config& e = examples->items()[i];
    const Config* in = e.is_table() ? e.find("input") : nullptr;
    const Config* target = e.is_table() ? e.find("target") : nullptr;
    KILN_CHECK(in && target && in->type() == Config::Type::string &&
                   target->type() == Config::Type::string,
               "bbh: ", path, ": example ", i, " lacks a string \"input\" or \"target\"");
    out.push_back({in->as_string(), target->as_string()});
  }
  return out;
}

std::string read_bbh_cot_prompt(const std::string& path) {
  const std::string text = read_file(path, "cot prompt");
  // The canary line, then "-----": file metadata, not prompt text.
  const size_t first = text.find('\n');
  const size_t second = first == std::string::npos ? first : text.find('\n', first + 1);
  KILN_CHECK(second != std::string::npos &&
                 trim(std::string_view(text).substr(first + 1, second - first - 1)) == "-----",
             "bbh: ", path,
             " does not start with a canary line and a \"-----\" line (BBH's cot-prompts "
             "layout)");
  std::string prompt = text.substr(second + 1);
  while (!prompt.empty() && is_space(prompt.back())) prompt.pop_back();
  return prompt;
}

std::string bbh_direct_prompt(const std::string& cot) {
  // Exemplars start at "Q: " at the start of a line after a blank line; the text before the
  // first is the task description.
  std::vector<size_t> starts;
  if (cot.rfind("Q: ", 0) == 0) starts.push_back(0);
  for (size_t p = cot.find("\n\nQ: "); p != std::string::npos; p = cot.find("\n\nQ: ", p + 1))
    starts.push_back(p + 2);
  KILN_CHECK(!starts.empty(), "bbh: the cot prompt has no exemplar (\"Q: \" after a blank line)");
  std::string out = trim(cot.substr(0, starts[0]));
  for (size_t k = 0; k < starts.size(); ++k) {
    const size_t end = k + 1 < starts.size() ? starts[k + 1] : cot.size();
    const std::string block = trim(cot.substr(starts[k], end - starts[k]));
    const size_t a = block.find("\nA: ");
    KILN_CHECK(a != std::string::npos, "bbh: exemplar ", k + 1,
               " of the cot prompt has no \"A: \"");
    const std::optional<std::string> answer = bbh_extract_strict(block.substr(a), BbhMode::cot);
    KILN_CHECK(answer, "bbh: exemplar ", k + 1,
               " of the cot prompt has no \"the answer is \" to take its answer from");
    if (!out.empty()) out += "\n\n";
    out += block.substr(0, a) + "\nA: " + *answer;
  }
  return out;
}

std::string bbh_prompt(const std::string& few_shot, const std::string& input, BbhMode mode) {
  return few_shot + "\n\nQ: " + input +
         (mode == BbhMode::cot ? "\nA: Let's think step by step.\n" : "\nA:");
}

std::optional<std::string> bbh_extract_strict(const std::string& g, BbhMode mode) {
  if (mode == BbhMode::direct) {
    std::string t = drop_period(g);
    if (t.empty()) return std::nullopt;
    return t;
  }
  static const std::string key = "the answer is ";
  const size_t p = g.rfind(key);
  if (p == std::string::npos) return std::nullopt;
  const size_t from = p + key.size();
  const size_t eol = g.find('\n', from);
  return drop_period(std::string_view(g).substr(from, eol == std::string::npos ? eol : eol - from));
}

std::optional<std::string> bbh_extract_flexible(const std::string& g, const std::string& task,
                                                BbhMode mode) {
  const std::optional<std::string> strict = bbh_extract_strict(g, mode);
  std::optional<std::string> found;
  switch (bbh_answer_format(task)) {
    case BbhAnswerFormat::multiple_choice:
      found = last_option(g);
      break;
    case BbhAnswerFormat::binary:
      found = last_label(g, bbh_binary_labels(task));
      break;
    case BbhAnswerFormat::number:
      found = last_number(g);
      break;
    case BbhAnswerFormat::word_list: {
      const std::string w = collapse_words(strict ? *strict : last_line(g));
      if (!w.empty()) found = w;
      break;
    }
    case BbhAnswerFormat::dyck: {
      const std::string b = brackets_only(strict ? *strict : last_line(g));
      if (!b.empty()) found = b;
      break;
    }
  }
  // A target outside the format (movie_recommendation's "Monsters, Inc") can still be read
  // strictly.
  return found ? found : strict;
}

BbhEvaluator::BbhEvaluator(BbhOptions options) : options_(std::move(options)) {
  KILN_CHECK(!options_.path.empty(),
             "bbh: path (the folder holding tasks/ and cot-prompts/) is "
             "empty");
  for (const std::string& t : options_.tasks) bbh_answer_format(t);
  KILN_CHECK(!options_.limit || *options_.limit >= 1, "bbh: limit must be >= 1, got ",
             *options_.limit);
  KILN_CHECK(options_.max_tokens >= 1, "bbh: max_tokens must be >= 1, got ", options_.max_tokens);
  KILN_CHECK(options_.bos == "none" || options_.bos == "bos",
             "bbh: bos must be \"none\" or \"bos\", got \"", options_.bos, "\"");
  for (const std::string& s : options_.stop) KILN_CHECK(!s.empty(), "bbh: a stop string is empty");
}

std::vector<std::string> BbhEvaluator::stop() const {
  if (!options_.stop.empty()) return options_.stop;
  if (options_.mode == BbhMode::cot) return {"\n\nQ:"};
  return {"\n\nQ:", "\n"};
}

Config BbhEvaluator::evaluate(eval::EvalContext& ctx) {
  KILN_CHECK(ctx.model, "bbh: no model to evaluate");
  std::shared_ptr<data::Tokenizer> tokenizer = prompt_tokenizer(ctx, "bbh");
  const std::optional<int32_t> bos = prompt_prefix(*tokenizer, options_.bos, "bbh");
  eval::GenerateUntilOptions go;
  go.max_length = options_.context.value_or(0);
  go.batch_size = ctx.batch_size;
  go.cache = ctx.cache;
  go.progress = terminal_progress(options_.name, "generations", ctx.progress);
  eval::ModelTextGenerator gen(*ctx.model, *tokenizer, go, bos);
  BbhOptions o = options_;
  o.limit = task_limit(o.limit, ctx.limit);
  // A context that cannot hold max_tokens new tokens and a prompt (the char model's 64) gets
  // half of it for the answer and keeps the other half for the end of the prompt.
  const int64_t L = options_.context.value_or(ctx.model->context_length());
  if (o.max_tokens >= L) o.max_tokens = std::max<int64_t>(1, L / 2);
  std::vector<BbhSample> samples;
  Config out = BbhEvaluator(o).score(gen, ctx.samples ? &samples : nullptr);
  out.set("contexts_truncated", gen.contexts_truncated());
  out.set("context", L);
  out.set("max_tokens", o.max_tokens);
  if (o.limit) out.set("limit", *o.limit);
  for (const BbhSample& s : samples) {
    Config r = Config::table();
    r.set("task", s.task);
    r.set("prompt", s.prompt);
    r.set("generation", s.generation);
    r.set("extracted_strict", s.strict ? Config(*s.strict) : Config());
    r.set("extracted_flexible", s.flexible ? Config(*s.flexible) : Config());
    r.set("gold", s.target);
    r.set("correct", s.strict && *s.strict == s.target);
    r.set("correct_flexible", s.flexible && *s.flexible == s.target);
    ctx.samples->push_back(std::move(r));
  }
  out.at("method").set("bos", std::string(bos ? "the prompt starts with token " +
                                                    std::to_string(*bos) + " (bos = \"bos\")"
                                              : "none (lm-evaluation-harness's default)"));
  return out;
}

Config BbhEvaluator::score(eval::TextGenerator& generator, std::vector<BbhSample>* samples) const {
  const fs::path root(options_.path);
  const std::vector<std::string>& tasks = options_.tasks.empty() ? bbh_tasks() : options_.tasks;
  struct Item {
    size_t task;
    std::string target;
  };
  std::vector<Item> items;
  std::vector<eval::TextRequest> requests;
  const std::vector<std::string> stops = stop();
  Config sha = Config::table();
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    for (const std::string& rel :
         {"tasks/" + tasks[ti] + ".json", "cot-prompts/" + tasks[ti] + ".txt"})
      sha.set(rel, io::sha256_file((root / rel).string()));
    std::vector<BbhExample> examples =
        read_bbh_task((root / "tasks" / (tasks[ti] + ".json")).string());
    if (options_.limit && int64_t(examples.size()) > *options_.limit)
      examples.resize(size_t(*options_.limit));
    std::string few_shot =
        read_bbh_cot_prompt((root / "cot-prompts" / (tasks[ti] + ".txt")).string());
    if (options_.mode == BbhMode::direct) few_shot = bbh_direct_prompt(few_shot);
    for (const BbhExample& e : examples) {
      requests.push_back(
          {bbh_prompt(few_shot, e.input, options_.mode), stops, options_.max_tokens});
      items.push_back({ti, e.target});
    }
  }
  KILN_CHECK(!items.empty(), "bbh: no example to score");
  const std::vector<std::string> generations = generator.generate(requests);
  KILN_CHECK(generations.size() == requests.size(), "bbh: the generator answered ",
             generations.size(), " of ", requests.size(), " requests");

  struct Tally {
    int64_t strict = 0, flexible = 0, examples = 0;
  };
  std::vector<Tally> by_task(tasks.size());
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string& task = tasks[items[i].task];
    const std::optional<std::string> s = bbh_extract_strict(generations[i], options_.mode);
    const std::optional<std::string> f = bbh_extract_flexible(generations[i], task, options_.mode);
    Tally& t = by_task[items[i].task];
    ++t.examples;
    t.strict += s && *s == items[i].target;
    t.flexible += f && *f == items[i].target;
    if (samples)
      samples->push_back({task, requests[i].context, generations[i], items[i].target, s, f});
  }

  Config out = Config::table();
  Config per_task = Config::table();
  Tally all;
  double strict_sum = 0, flexible_sum = 0;
  for (size_t ti = 0; ti < tasks.size(); ++ti) {
    const Tally& t = by_task[ti];
    all.strict += t.strict, all.flexible += t.flexible, all.examples += t.examples;
    strict_sum += ratio(t.strict, t.examples);
    flexible_sum += ratio(t.flexible, t.examples);
    Config c = Config::table();
    c.set("accuracy_strict", ratio(t.strict, t.examples));
    c.set("accuracy_flexible", ratio(t.flexible, t.examples));
    c.set("correct_strict", t.strict);
    c.set("correct_flexible", t.flexible);
    c.set("examples", t.examples);
    per_task.set(tasks[ti], c);
  }
  const double n = double(tasks.size());
  out.set("accuracy", strict_sum / n);
  out.set("accuracy_strict", strict_sum / n);
  out.set("accuracy_flexible", flexible_sum / n);
  out.set("accuracy_strict_weighted", ratio(all.strict, all.examples));
  out.set("accuracy_flexible_weighted", ratio(all.flexible, all.examples));
  out.set("correct_strict", all.strict);
  out.set("correct_flexible", all.flexible);
  out.set("examples", all.examples);
  out.set("tasks", int64_t(tasks.size()));
  out.set("by_task", per_task);
  out.set("data_sha256", sha);
  Config method = Config::table();
  const bool cot = options_.mode == BbhMode::cot;
  method.set("version", std::string("kiln-bbh-1"));
  method.set("data", options_.path);
  method.set("mode", std::string(cot ? "cot" : "direct"));
  method.set("prompt",
             std::string(cot ? "cot-prompts/<task>.txt without its canary and ----- lines, then "
                               "\\n\\nQ: {input}\\nA: Let's think step by step.\\n"
                             : "direct: the cot prompt's exemplars with each answer reduced to "
                               "its final answer (derived by kiln), then \\n\\nQ: {input}\\nA:"));
  std::string stop_list;
  for (const std::string& s : stops) {
    std::string e;
    for (char c : s) e += c == '\n' ? std::string("\\n") : std::string(1, c);
    stop_list += (stop_list.empty() ? "\"" : ", \"") + e + "\"";
  }
  method.set("generation", "greedy until " + stop_list + ", the tokenizer's EOS, or " +
                               std::to_string(options_.max_tokens) + " tokens");
  method.set("strict", std::string(cot ? "text after the last \"the answer is \" to the end of "
                                         "its line, trimmed, one final \".\" removed"
                                       : "the generation trimmed, one final \".\" removed"));
  method.set("flexible", std::string("by answer format: last \"(X)\"; last label word (any case); "
                                     "last number; word list / dyck from the strict answer or last "
                                     "line, normalised; else the strict answer"));
  method.set("scoring", std::string("exact match with the target; accuracy = unweighted mean "
                                    "over tasks of strict accuracy"));
  out.set("method", method);
  return out;
}

}  // namespace kiln::evaluators
