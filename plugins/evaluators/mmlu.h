// MMLU (Hendrycks et al. 2021, "Measuring Massive Multitask Language Understanding"), scored as
// the authors' evaluate.py and lm-evaluation-harness's `mmlu` task score it.
//
// Data: the original release's CSV layout, DIR/<split>/<subject>_<split>.csv (split dev, val or
// test), no header, columns question, A, B, C, D, answer (a letter). Subjects are the files
// found for the split, in name order.
//
// Prompt (k shots, the first k questions of the subject's dev file, in file order):
//
//   header:    The following are multiple choice questions (with answers) about {subject}.\n\n
//   each shot: {question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer: {letter}\n\n
//   question:  {question}\nA. {A}\nB. {B}\nC. {C}\nD. {D}\nAnswer:
//
// {subject} is the file's subject with underscores as spaces. template = "original" (the
// default) writes every field verbatim as evaluate.py does; template = "harness" strips the
// question's leading and trailing whitespace as the harness's doc_to_text does
// ({{question.strip()}}); 1105 of MMLU's 15858 questions have such whitespace.
//
// Scoring: the log-likelihood of each continuation " A", " B", " C", " D" after the prompt
// (loglikelihood requests, tokenised as the harness's _encode_pair); the prediction is the
// largest, ties to the earliest letter (numpy.argmax, as both references): a model with
// uniform logits predicts "A" for every question. No BOS is added unless asked (bos = "bos"),
// as the harness's default add_bos_token = False.
//
// Context: when header + shots + question do not fit the model's context (max_length tokens
// read, the answer included), shots are dropped from the front (the first shot first) until
// they do; results.json reports how many. A question that does not fit even with no shot is
// cut from the left by the request engine, as the harness does, and counted as truncated.
//
// Results: accuracy per subject, per category (STEM, humanities, social sciences, other: the
// category map of the authors' categories.py), the average weighted by questions ("accuracy")
// and the unweighted average over subjects ("accuracy_subjects").
#pragma once

#include <array>
#include <optional>
#include <string>
#include <vector>

#include "core/eval/evaluator.h"

namespace kiln::evaluators {

struct MmluQuestion {
  std::string question;
  std::array<std::string, 4> choices;
  int answer = 0;  ///< 0..3 for A..D
};

/// The questions of one MMLU CSV file; throws kiln::Error naming the file and record on a
/// record without 6 fields or an answer outside A-D.
std::vector<MmluQuestion> read_mmlu_csv(const std::string& path);

enum class MmluTemplate { original, harness };

/// "The following are multiple choice questions (with answers) about {subject}.\n\n".
std::string mmlu_header(const std::string& subject);
/// One question as the prompt writes it, ending in "Answer:" (and " {letter}\n\n" for a shot).
std::string mmlu_format(const MmluQuestion& q, bool with_answer,
                        MmluTemplate t = MmluTemplate::original);
/// The whole prompt: header, the shots in order, then the question.
std::string mmlu_prompt(const std::string& subject, const std::vector<MmluQuestion>& shots,
                        const MmluQuestion& q, MmluTemplate t = MmluTemplate::original);
/// "stem", "humanities", "social_sciences" or "other"; throws for an unknown subject.
const char* mmlu_category(const std::string& subject);

struct MmluOptions {
  std::string name = "mmlu";
  std::string path;            ///< the folder holding dev/, val/, test/
  std::string split = "test";  ///< the questions scored
  int64_t shots = 5;
  std::vector<std::string> subjects;  ///< empty: every subject of the split
  std::optional<int64_t> limit;       ///< at most this many questions per subject
  std::optional<int64_t> context;     ///< tokens the model reads (default: its context length)
  MmluTemplate prompt = MmluTemplate::original;
  std::string bos = "none";  ///< "none" or "bos" (the tokenizer's BOS, else its EOS)
};

class MmluEvaluator final : public eval::Evaluator {
 public:
  explicit MmluEvaluator(MmluOptions options);
  std::string name() const override { return options_.name; }
  Config evaluate(eval::EvalContext& ctx) override;
  /// evaluate() with the pieces given directly (tests).
  /// `samples`, when given, receives one record per question (samples.jsonl).
  /// `cache`, when given, keeps the answers on disk (core/eval/request_cache.h).
  Config score(nn::Model& model, const data::Tokenizer& tokenizer, int64_t batch_size,
               bool progress = false, std::vector<Config>* samples = nullptr,
               eval::RequestCache* cache = nullptr) const;

 private:
  MmluOptions options_;
};

}  // namespace kiln::evaluators
