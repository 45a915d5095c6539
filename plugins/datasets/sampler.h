// Batches from one split of a token stream, in two ways:
//
//  random  windows of T+1 tokens at uniform random offsets in [0, n - T), as nanoGPT's
//          get_batch. Offset of row r (counted over the whole run) is a Philox draw keyed by
//          the seed with r as the counter, so a batch depends only on (seed, rows drawn before)
//          and resuming from a saved row count repeats the same batches.
//  packed  documents in order (shuffled each epoch by the seed when asked) concatenated into
//          one stream, read in rows of T+1 tokens that advance by T (each token is a target
//          once per epoch); an epoch's remainder shorter than a row is dropped.
//
// Document masks: with document_mask, Batch::segment_ids numbers the documents within each
// row (0, 1, ...) and Batch::positions restarts at 0 at each document start (and at the row's
// start), so attention can stay within a document. A target that begins a new document is
// ignored (-100) unless it is the end-of-text token: across a document mask it cannot be
// predicted. Documents begin with the end-of-text token when the tokenizer has one, so that
// token belongs to the document it opens and is the one every document is conditioned on.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/data/dataset.h"
#include "plugins/datasets/token_stream.h"

namespace kiln::datasets {

struct SamplingOptions {
  enum class Mode { random, packed };
  Mode mode = Mode::random;
  bool shuffle = true;  ///< packed: shuffle documents each epoch
  bool document_mask = false;
};

/// One split: a range of a stream and where its documents start.
struct SplitTokens {
  const TokenStream* stream = nullptr;
  int64_t begin = 0, end = 0;
  /// Ascending offsets relative to begin; the first is 0 (a split starts a segment).
  std::vector<int64_t> doc_starts{0};
  int64_t size() const { return end - begin; }
};

/// Where a sampler is; saved in checkpoints.
struct SamplerState {
  int64_t rows = 0;    ///< rows drawn so far (random)
  int64_t epoch = 0;   ///< packed: the epoch
  int64_t offset = 0;  ///< packed: the next row's offset in the epoch's stream
};

class Sampler {
 public:
  /// `stream_id` keeps the draws of different splits apart; `shuffle` is applied to packed
  /// document order (the val split reads in order).
  Sampler(const SplitTokens* split, SamplingOptions options, uint64_t seed, uint32_t stream_id,
          std::optional<int32_t> eos, bool shuffle);
  /// The next batch of [batch, seq_len]; needs at least seq_len + 1 tokens in the split.
  data::Batch next(int64_t batch, int64_t seq_len);
  const SamplerState& state() const { return state_; }
  void set_state(const SamplerState& s) { state_ = s; }

  /// The start offset of row r of a random sampler over n tokens with windows of seq_len
  /// (exposed for tests).
  static int64_t window_start(uint64_t seed, uint32_t stream_id, uint64_t r, int64_t n,
                              int64_t seq_len);
  /// The document order of an epoch (exposed for tests).
  static std::vector<int64_t> epoch_order(uint64_t seed, uint32_t stream_id, int64_t epoch,
                                          int64_t n_docs, bool shuffle);

 private:
  const SplitTokens* split_;
  SamplingOptions options_;
  uint64_t seed_;
  uint32_t stream_id_;
  std::optional<int32_t> eos_;
  bool shuffle_;
  SamplerState state_;
  // packed: the current epoch's document order and the offsets of its documents.
  int64_t cached_epoch_ = -1;
  std::vector<int64_t> order_, cum_;

  void prepare_epoch(int64_t epoch);
  // Fills one row of seq_len + 1 tokens and, with document masks, its segments.
  void read_window(int64_t start, int64_t len, int32_t* tokens, std::vector<int64_t>* doc_of) const;
  void read_packed(int64_t offset, int64_t len, int32_t* tokens, std::vector<int64_t>* doc_of);
};

}  // namespace kiln::datasets
