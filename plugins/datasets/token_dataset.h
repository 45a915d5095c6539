// What every dataset of this plugin shares once its tokens are known: a train and a val range
// of one token stream, a sampler for each, the checks that name the spec's fields, and the
// sampler state for checkpoints. The sources (text, jsonl, shards) fill the stream in
// prepare() and call finish_prepare().
#pragma once

#include <memory>
#include <string>

#include "core/data/dataset.h"
#include "plugins/datasets/sampler.h"
#include "plugins/datasets/token_stream.h"

namespace kiln::datasets {

/// Options every dataset component reads from its spec.
struct DatasetCommon {
  SamplingOptions sampling;
  /// Error prefixes ("spec.lua:3: data.path: "): the sources, and the field that sets the val
  /// split (the same as the sources when the spec has no split field).
  std::string train_where, val_where;
};

class TokenDataset : public data::Dataset {
 public:
  explicit TokenDataset(DatasetCommon common);
  std::shared_ptr<data::Tokenizer> tokenizer() const override { return tokenizer_; }
  data::Batch next(data::Split split, int64_t batch, int64_t seq_len) override;
  /// { sampling, seed, train = { tokens, rows, epoch, offset }, val = {...} }
  Config state() const override;
  void load_state(const Config& state) override;

  int64_t split_size(data::Split s) const { return splits_[int(s)].size(); }
  const SplitTokens& split_tokens(data::Split s) const { return splits_[int(s)]; }
  const SamplingOptions& sampling() const { return common_.sampling; }

 protected:
  /// Called at the end of prepare() once stream_ and splits_ (ranges and document starts) are
  /// set: builds the samplers and, when options.seq_len is given, checks each split holds a
  /// window.
  void finish_prepare(const data::PrepareOptions& options);
  /// Throws naming the field when split s holds less than one window of seq_len + 1.
  void check_window(data::Split s, int64_t seq_len) const;
  void check_prepared(const char* what) const;
  /// Whether the samplers need document starts (packing or document masks).
  bool needs_documents() const;

  DatasetCommon common_;
  std::shared_ptr<data::Tokenizer> tokenizer_;
  TokenStream stream_;
  SplitTokens splits_[2];
  std::unique_ptr<Sampler> samplers_[2];
  uint64_t seed_ = 0;
  bool prepared_ = false;
};

}  // namespace kiln::datasets
