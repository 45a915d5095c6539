// AGIEval (Zhong et al. 2023, "AGIEval: A Human-Centric Benchmark for Evaluating Foundation
// Models"), the 10 English tasks of v1: 9 multiple-choice tasks (aqua-rat, gaokao-english,
// logiqa-en, lsat-ar, lsat-lr, lsat-rc, sat-en, sat-en-without-passage, sat-math) scored by
// log-likelihood, and the cloze task math scored by generation.
//
// Data: DIR/v1/<task>.jsonl, one JSON object a line with passage (null or text), question,
// options (["(A)...", ...]; null for math), label (the gold letter; null for math) and answer
// (math's gold). Few-shot exemplars: DIR/few_shot_prompts.csv, whose "sample k" cells are
// Python dict literals (read with a small Python-literal parser).
//
// Prompts follow AGIEval's own src/dataset_loader.py (ruixiangcui/AGIEval):
//   zero-shot (convert_zero_shot), which lm-evaluation-harness's agieval_* tasks use as their
//   "query" (lm_eval/tasks/agieval/*.yaml: doc_to_text "{{query}}", doc_to_choice
//   "{{choices}}", default target delimiter " "):
//     MC:   {passage}Q: {question} Answer Choices: {options joined by " "}\nA: Among A through
//           {last letter}, the answer is
//     math: {passage}Q: {question}\nA: The answer is
//   few-shot (combine_prompt + concat_prompt + convert_few_shot, "few-shot" setting, no
//   explanations): "Here are the answers for the problems in the exam.\n", then each exemplar
//     MC:   Problem {i}.   {passage} {question}\nChoose from the following options:    {options
//           joined by " "}\nThe answer is therefore {label}\n\n
//     math: Problem {i}.   {question}\nThe answer is therefore {answer}\n\n
//   then the question the same way without the answer line (sat-en-without-passage uses
//   sat-en's exemplars without their passages, as AGIEval does).
// Scoring:
//   MC zero-shot: the log-likelihood of " " + each option ("(A)..."), as the harness's
//     agieval tasks; acc = the largest (ties to the earliest option, numpy.argmax), acc_norm =
//     the largest log-likelihood per character of the option (utils.process_results_mcqa).
//   MC few-shot: the prompt + "The answer is therefore" followed by " A", " B", ... (the
//     exemplars' answer form; AGIEval itself generates and parses a letter); acc as above,
//     acc_norm equal to acc (the continuations have one length).
//   math: greedy generation after the prompt (few-shot: after "...\nThe answer is therefore")
//     until "Q:" or "\nProblem" or max_tokens; correct when the harness's parse_math_answer of
//     the generation and of the gold are equal after hendrycks/math's _strip_string
//     normalisation (lm_eval/tasks/agieval/utils.py, is_equiv).
// Results: per task accuracy (and accuracy_norm for MC), the unweighted average over tasks
// ("accuracy") and the average weighted by questions.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/eval/evaluator.h"
#include "core/eval/generate_until.h"
#include "core/registry/config.h"

namespace kiln::evaluators {

struct AgievalQuestion {
  std::optional<std::string> passage;
  std::string question;
  std::vector<std::string> options;  ///< "(A)..." strings; empty for math
  std::string label;                 ///< the gold letter; empty for math
  std::string answer;                ///< math's gold answer
};

/// The 10 English tasks, sorted.
const std::vector<std::string>& agieval_tasks();
/// Whether a task is the cloze task (math); throws for a task outside the 10.
bool agieval_is_cloze(const std::string& task);

std::vector<AgievalQuestion> read_agieval_jsonl(const std::string& path);
/// The exemplars of `task` in few_shot_prompts.csv (its non-empty "sample k" cells, in order);
/// sat-en-without-passage reads sat-en's with the passages dropped.
std::vector<AgievalQuestion> read_agieval_few_shot(const std::string& csv_path,
                                                   const std::string& task);
/// A Python literal (dict, list, str, None, True/False, int) as a Config; throws naming
/// `origin` on anything else.
Config parse_python_literal(const std::string& text, const std::string& origin);

/// The zero-shot prompt (AGIEval's convert_zero_shot).
std::string agieval_zero_shot_prompt(const std::string& task, const AgievalQuestion& q);
/// The few-shot prompt, ending with the question's block ("...options:    ...\n" for MC,
/// "Problem {n}.   {question}\n" for math).
std::string agieval_few_shot_prompt(const std::string& task,
                                    const std::vector<AgievalQuestion>& shots,
                                    const AgievalQuestion& q);

/// lm-evaluation-harness's parse_math_answer (AGIEval's post_process): the last \boxed{...},
/// else the last $...$, else the text after the last "=", else the last number.
std::optional<std::string> agieval_parse_math_answer(const std::string& text);
/// hendrycks/math's _strip_string normalisation.
std::string agieval_strip_math(std::string s);
/// is_equiv(parse(generation), parse(gold)) as the harness's process_results computes it.
bool agieval_math_correct(const std::string& generation, const std::string& gold);

/// What multiple-choice scoring needs: the log-likelihood of each (context, continuation)
/// pair. ModelScorer puts a model behind it (encode_pair + eval::loglikelihood); tests put an
/// oracle behind it.
struct ChoiceRequest {
  std::string context;
  std::vector<std::string> continuations;
};
class LoglikelihoodScorer {
 public:
  virtual ~LoglikelihoodScorer() = default;
  /// Per request, the log-likelihood of each continuation after its context.
  virtual std::vector<std::vector<double>> score(const std::vector<ChoiceRequest>& requests) = 0;
};

/// A model behind LoglikelihoodScorer: each request through eval::encode_pairs (the harness's
/// _encode_pair) and eval::loglikelihood.
class ModelScorer final : public LoglikelihoodScorer {
 public:
  ModelScorer(nn::Model& model, const data::Tokenizer& tokenizer, int64_t max_length,
              int64_t batch_size, std::optional<int32_t> prefix, bool progress, std::string name)
      : model_(model),
        tokenizer_(tokenizer),
        max_length_(max_length),
        batch_size_(batch_size),
        prefix_(prefix),
        progress_(progress),
        name_(std::move(name)) {}
  std::vector<std::vector<double>> score(const std::vector<ChoiceRequest>& requests) override;
  /// Requests of the last score() whose context was cut to fit.
  int64_t truncated() const { return truncated_; }
  /// Keep the answers on disk (core/eval/request_cache.h).
  void set_cache(eval::RequestCache* cache) { cache_ = cache; }

 private:
  nn::Model& model_;
  const data::Tokenizer& tokenizer_;
  int64_t max_length_, batch_size_;
  std::optional<int32_t> prefix_;
  bool progress_;
  eval::RequestCache* cache_ = nullptr;
  std::string name_;
  int64_t truncated_ = 0;
};

struct AgievalOptions {
  std::string name = "agieval";
  std::string path;                ///< the folder holding v1/ and few_shot_prompts.csv
  std::vector<std::string> tasks;  ///< empty: all 10
  int64_t shots = 0;               ///< 0: zero-shot; k: the first k exemplars (at most 5)
  std::optional<int64_t> limit;    ///< at most this many questions per task
  int64_t max_tokens = 256;        ///< math: new tokens at most
  std::optional<int64_t> context;  ///< tokens the model reads (default: its context length)
  std::string bos = "none";
};

class AgievalEvaluator final : public eval::Evaluator {
 public:
  explicit AgievalEvaluator(AgievalOptions options);
  std::string name() const override { return options_.name; }
  Config evaluate(eval::EvalContext& ctx) override;
  /// Scores with a log-likelihood scorer (MC tasks) and a generator (math); `samples`, when
  /// given, receives one record per question.
  Config score(LoglikelihoodScorer& scorer, eval::TextGenerator& generator,
               std::vector<Config>* samples = nullptr) const;

 private:
  AgievalOptions options_;
};

}  // namespace kiln::evaluators
