// Pre-tokenised shards (core/data/shard.h), memory-mapped and read as one stream. `path` is the
// folder `kiln data tokenize` wrote (train_*.bin, val_*.bin and the tokenizer), or shard files
// and globs whose concatenation is split by a val fraction.
#pragma once

#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "core/data/shard.h"
#include "plugins/datasets/token_dataset.h"

namespace kiln::datasets {

struct ShardsOptions {
  std::vector<std::string> paths;
  /// The last fraction of the stream validates; unset: the folder's val_*.bin, else 0.1.
  std::optional<double> val_fraction;
};

class ShardsDataset : public TokenDataset {
 public:
  /// tokenizer may be null: the one saved beside the shards is loaded.
  ShardsDataset(DatasetCommon common, ShardsOptions shards,
                std::shared_ptr<data::Tokenizer> tokenizer);
  void prepare(const data::PrepareOptions& options) override;
  /// Converted to int32 on first use and kept (the shards hold uint16 or uint32).
  std::span<const int32_t> tokens(data::Split split) const override;

  const std::vector<data::ShardFile>& shards() const { return shards_; }

 private:
  ShardsOptions options_;
  std::vector<data::ShardFile> shards_;
  mutable std::once_flag materialised_[2];
  mutable std::vector<int32_t> tokens_[2];

  void load_tokenizer(const std::string& dir);
  void find_documents(SplitTokens& split, std::optional<int32_t> eos) const;
};

/// Reads the tokenizer `kiln data tokenize` saved in dir (tokenizer_spec.json names the
/// component; its files lie beside it); null when dir has no tokenizer_spec.json.
std::shared_ptr<data::Tokenizer> load_saved_tokenizer(const std::string& dir);

}  // namespace kiln::datasets
