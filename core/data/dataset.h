// Datasets: the "dataset" component kind, the source of training and evaluation tokens.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "core/data/tokenizer.h"
#include "core/registry/config.h"
#include "core/tensor/tensor.h"

namespace kiln::data {

enum class Split { train, val };
const char* split_name(Split s);

/// One batch for a language-model objective.
struct Batch {
  Tensor inputs;       ///< i64 [B, T]
  Tensor targets;      ///< i64 [B, T]; -100 where no loss is taken
  Tensor segment_ids;  ///< i64 [B, T], optional: document of each position in packed rows
  Tensor positions;    ///< i64 [B, T], optional: positions that restart at each document
  /// Preference data (dpo, orpo, reward_model): when > 0 the batch holds `pairs` pairs as
  /// 2 * pairs rows, rows [0, pairs) the chosen responses and rows [pairs, 2 pairs) the
  /// rejected ones, row i and row pairs + i sharing one prompt (TRL's concatenated forward).
  /// targets are -100 on prompt tokens and padding.
  int64_t pairs = 0;
  /// f64 [2 * pairs], optional: the reference model's log-probs of each row's response
  /// (summed over its tokens), computed once and stored with the data; dpo reads them instead
  /// of running a reference model.
  Tensor reference_logps;
  /// i64 [B], optional: row b's first prompt_lengths[b] input tokens are its prompt (no
  /// padding among them). RL objectives (ppo, grpo) read the prompts from here and generate
  /// the rest; prompt-only data (`prompts`) and unpacked prompt/response rows fill it.
  Tensor prompt_lengths;
};

struct PrepareOptions {
  uint64_t seed = 0;
  /// Where the run keeps its files (a tokenizer fitted here is saved by the trainer); may be
  /// empty outside a run.
  std::string run_dir;
  /// Progress lines for long tokenisation.
  bool progress = true;
  /// The sequence length the run will ask for, when known (0: unknown). prepare() then fails
  /// at once, naming the field, when a split holds less than one window of seq_len + 1 tokens.
  int64_t seq_len = 0;
};

class Dataset {
 public:
  virtual ~Dataset();
  /// The tokenizer this dataset encodes with.
  virtual std::shared_ptr<Tokenizer> tokenizer() const = 0;
  /// Reads and tokenises the sources (fitting the tokenizer first when it needs it) and splits
  /// train/val. Called once, before anything else. Throws naming the file on bad input.
  virtual void prepare(const PrepareOptions& options) = 0;
  /// The next batch of `batch` rows of `seq_len` tokens from a split; deterministic in the seed
  /// and the number of batches drawn before (see state()).
  virtual Batch next(Split split, int64_t batch, int64_t seq_len) = 0;
  /// All tokens of a split, in order (evaluators score them in windows).
  virtual std::span<const int32_t> tokens(Split split) const = 0;
  /// The text of a split when the dataset has it (bits per byte, word perplexity); empty for
  /// pre-tokenised sources. Documents are joined as the tokens are: each document that starts in
  /// the split is preceded by the end-of-text token's text when the tokenizer has one, so that
  /// decode(tokens(split)) == text(split) for a lossless tokenizer.
  virtual std::string text(Split split) const { return {}; }
  /// Datasets of whole examples (preference pairs): how many a split holds; 0 for token
  /// streams.
  virtual size_t examples(Split split) const { return 0; }
  /// Examples [first, first + n) of a split in their stored order, laid out as next() lays
  /// them out, without shuffling or moving the sampler: a pass over every example, as `kiln
  /// data reference-logps` makes. The default throws (no examples).
  virtual Batch examples_in_order(Split split, size_t first, size_t n, int64_t seq_len) const;
  /// The sampler's position, for checkpoints; load_state() resumes exactly there.
  virtual Config state() const = 0;
  virtual void load_state(const Config& state) = 0;
};

}  // namespace kiln::data
