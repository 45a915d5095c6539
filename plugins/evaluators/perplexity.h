// The perplexity evaluator: token perplexity, bits per byte and word perplexity of held-out
// text, as lm-evaluation-harness reports them for its perplexity tasks (wikitext, pile):
//
//   nll              = -sum over documents of log p(document), natural log, each document
//                      scored with loglikelihood_rolling (or strided windows; core/eval/windows.h)
//   token_perplexity = exp(nll / tokens scored)
//   bits_per_byte    = nll / ln 2 / UTF-8 bytes of the documents
//   byte_perplexity  = exp(nll / bytes)
//   word_perplexity  = exp(nll / words), words counted as len(re.split(r"\s+", document))
//
// method = "pseudo" scores masked LMs (BERT, RoBERTa, ...) by pseudo-perplexity instead
// (pseudo_perplexity.h): each token masked in turn with the tokenizer's mask token, disjoint
// windows of `context` tokens, no prefix token; nll is then minus the pseudo-log-likelihood.
//
// Documents are the run's val split (split at the tokenizer's EOS, which is not scored; the
// text of a document is its tokens' bytes) or the files a path or glob names (one document a
// file, encoded with the run's tokenizer).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/eval/evaluator.h"

namespace kiln::evaluators {

enum class PerplexityMethod { rolling, strided, pseudo };

struct PerplexityOptions {
  std::string name = "perplexity";  ///< the evaluator's name in tables and results.json
  std::string path;                 ///< a file or glob; empty: the run's val split
  PerplexityMethod method = PerplexityMethod::rolling;
  std::optional<int64_t> context;  ///< tokens a window reads (default: the model's context length)
  std::optional<int64_t> stride;   ///< strided: tokens a window scores (default: context / 2)
  std::string prefix = "auto";     ///< "auto" (EOS when the tokenizer has one), "eos" or "none"
  std::optional<int32_t> prefix_token;  ///< a token id to condition the first token on instead
  std::optional<int64_t> limit;         ///< score only the first N documents
};

/// One document: its token ids and its text (for bytes and words).
struct Document {
  std::vector<int32_t> tokens;
  std::string text;
};

class PerplexityEvaluator final : public eval::Evaluator {
 public:
  explicit PerplexityEvaluator(PerplexityOptions options);
  std::string name() const override { return options_.name; }
  /// The val split is read unless a path is given.
  bool needs_dataset() const override { return options_.path.empty(); }
  /// Loads the documents (val split or files), then score().
  Config evaluate(eval::EvalContext& ctx) override;

  /// Scores documents with the model. `tokenizer` may be null (then there is no EOS prefix);
  /// `source` is recorded in the results.
  Config score(nn::Model& model, const data::Tokenizer* tokenizer,
               const std::vector<Document>& documents, int64_t batch_size, bool progress = false,
               const std::string& source = "documents",
               eval::RequestCache* cache = nullptr) const;

  /// The documents of the val split: the split's tokens cut at `eos` (when given), empty
  /// pieces dropped; each text is the concatenated bytes of its tokens.
  static std::vector<Document> split_documents(std::span<const int32_t> tokens,
                                               std::optional<int32_t> eos,
                                               const data::Tokenizer& tokenizer);
  /// The documents of the files a path or glob names, sorted by name.
  static std::vector<Document> read_documents(const std::string& path_or_glob,
                                              const data::Tokenizer& tokenizer);

  const PerplexityOptions& options() const { return options_; }

 private:
  Config score_pseudo(nn::Model& model, const data::Tokenizer* tokenizer,
                      const std::vector<Document>& documents, int64_t context, int64_t batch_size,
                      bool progress, const std::string& source) const;
  PerplexityOptions options_;
};

}  // namespace kiln::evaluators
