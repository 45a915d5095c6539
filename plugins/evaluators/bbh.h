// BIG-Bench Hard (Suzgun et al. 2022, "Challenging BIG-Bench Tasks and Whether Chain-of-Thought
// Can Solve Them"): 27 tasks scored by exact match of a generated answer with the target.
//
// Data: the BBH repository's files, DIR/tasks/<task>.json ({"examples": [{"input", "target"}]})
// and DIR/cot-prompts/<task>.txt (a canary line and a "-----" line, which are not prompt text,
// then a one-line task description and 3 exemplars "Q: ...\nA: Let's think step by step.\n...
// So the answer is X.", separated by blank lines).
//
// Prompts:
//   cot (default): {the cot-prompt file without its first two lines, trailing whitespace
//                  removed}\n\nQ: {input}\nA: Let's think step by step.\n
//   direct:        the same file with every exemplar's answer reduced to its final answer
//                  (what strict extraction reads from the exemplar's reasoning), i.e.
//                  {description}\n\nQ: {q1}\nA: {a1}\n\nQ: ...\n\nQ: {input}\nA:
//                  The BBH repository does not ship its answer-only prompts here, so kiln
//                  derives them from the cot files; the questions and answers are the same.
// Generation: greedy, until a stop string (default "\n\nQ:" for cot; "\n\nQ:" and "\n" for
// direct, whose answer is one line) or max_tokens new tokens.
//
// Extraction (both reported, labelled):
//   strict:   cot: the text after the last "the answer is " up to the end of its line, with
//             surrounding whitespace and one final "." removed (the harness's regex drops the
//             last character whatever it is; kiln drops only a period). No "the answer is "
//             means no answer. direct: the whole generation, trimmed, one final "." removed.
//   flexible: by the task's answer format (bbh_answer_format): multiple_choice: the last
//             "(X)" with X a capital letter; binary: the last whole word (any case) that is one
//             of the task's two labels (Yes/No, yes/no, True/False, valid/invalid), written as
//             the label; number: the last integer or decimal (commas removed, a ".0" tail
//             dropped); word_list: the strict answer when there is one, else the last
//             non-empty line, commas as spaces, whitespace collapsed, one final "." removed;
//             dyck: the strict answer or else the last non-empty line, its bracket characters
//             only, joined by single spaces.
// Scoring: exact match (case-sensitive) of the extracted answer with the target. Results: per
// task accuracy_strict and accuracy_flexible; overall the unweighted average over tasks
// ("accuracy" = "accuracy_strict", and "accuracy_flexible", as the BBH paper averages tasks)
// and the averages weighted by examples.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/eval/evaluator.h"
#include "core/eval/generate_until.h"

namespace kiln::evaluators {

struct BbhExample {
  std::string input, target;
};

enum class BbhMode { cot, direct };
enum class BbhAnswerFormat { multiple_choice, binary, number, word_list, dyck };

/// The 27 task names, sorted.
const std::vector<std::string>& bbh_tasks();
/// The answer format of a task; throws for a name that is not one of the 27.
BbhAnswerFormat bbh_answer_format(const std::string& task);
/// The two labels of a binary task ({"Yes", "No"}, ...); empty for other formats.
std::vector<std::string> bbh_binary_labels(const std::string& task);

/// The examples of tasks/<task>.json; throws naming the file on bad JSON or a missing key.
std::vector<BbhExample> read_bbh_task(const std::string& path);
/// The cot prompt of a cot-prompts/<task>.txt file: without its canary and "-----" lines and
/// trailing whitespace; throws when the file lacks the "-----" line.
std::string read_bbh_cot_prompt(const std::string& path);
/// The direct (answer-only) prompt derived from a cot prompt: the description, then each
/// exemplar as "Q: {question}\nA: {final answer}", joined by blank lines. Throws when an
/// exemplar has no "the answer is ".
std::string bbh_direct_prompt(const std::string& cot_prompt);
/// The whole prompt for one input: few_shot + "\n\nQ: " + input + "\nA: Let's think step by
/// step.\n" (cot) or "\nA:" (direct).
std::string bbh_prompt(const std::string& few_shot, const std::string& input, BbhMode mode);

/// Strict extraction (see the header comment); nullopt when there is no answer.
std::optional<std::string> bbh_extract_strict(const std::string& generation, BbhMode mode);
/// Flexible extraction by the task's answer format; nullopt when nothing answer-like is found.
std::optional<std::string> bbh_extract_flexible(const std::string& generation,
                                                const std::string& task, BbhMode mode);

struct BbhOptions {
  std::string name = "bbh";
  std::string path;  ///< the folder holding tasks/ and cot-prompts/
  BbhMode mode = BbhMode::cot;
  std::vector<std::string> tasks;  ///< empty: all 27
  std::optional<int64_t> limit;    ///< at most this many examples per task (the first ones)
  std::vector<std::string> stop;   ///< empty: the mode's default
  int64_t max_tokens = 256;
  std::optional<int64_t> context;  ///< tokens prompt + answer may hold (default: the model's)
  std::string bos = "none";        ///< "none" or "bos" (the tokenizer's BOS, else its EOS)
};

/// One scored example (for samples.jsonl).
struct BbhSample {
  std::string task, prompt, generation, target;
  std::optional<std::string> strict, flexible;
};

class BbhEvaluator final : public eval::Evaluator {
 public:
  explicit BbhEvaluator(BbhOptions options);
  std::string name() const override { return options_.name; }
  Config evaluate(eval::EvalContext& ctx) override;
  /// Scores with any generator (a model through eval::ModelTextGenerator, or a test's oracle).
  /// `samples`, when given, receives one record per example.
  Config score(eval::TextGenerator& generator, std::vector<BbhSample>* samples = nullptr) const;
  /// The stop strings in use (the option, or the mode's default).
  std::vector<std::string> stop() const;

 private:
  BbhOptions options_;
};

}  // namespace kiln::evaluators
