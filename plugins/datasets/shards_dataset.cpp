#include "plugins/datasets/shards_dataset.h"

#include <cmath>
#include <filesystem>

#include "core/base/error.h"
#include "core/registry/registry.h"
#include "plugins/datasets/sources.h"

namespace kiln::datasets {

namespace fs = std::filesystem;
using data::Split;

std::shared_ptr<data::Tokenizer> load_saved_tokenizer(const std::string& dir) {
  const fs::path file = fs::path(dir) / data::kShardTokenizerSpec;
  if (!fs::exists(file)) return nullptr;
  Config c = Config::from_json(read_file(file.string(), ""), file.string());
  KILN_CHECK(c.is_component() && c.component_kind() == "tokenizer", file.string(),
             ": expected a tokenizer component (\"@component\": \"tokenizer.NAME\")");
  std::shared_ptr<data::Tokenizer> tok = Registry::global().create<data::Tokenizer>(c);
  tok->load(dir);
  return tok;
}

ShardsDataset::ShardsDataset(DatasetCommon common, ShardsOptions shards,
                             std::shared_ptr<data::Tokenizer> tokenizer)
    : TokenDataset(std::move(common)), options_(std::move(shards)) {
  tokenizer_ = std::move(tokenizer);
  if (options_.val_fraction)
    KILN_CHECK(*options_.val_fraction >= 0 && *options_.val_fraction < 1, common_.val_where,
               "val fraction ", *options_.val_fraction, " must lie in [0, 1)");
}

void ShardsDataset::find_documents(SplitTokens& split, std::optional<int32_t> eos) const {
  split.doc_starts.assign(1, 0);
  if (!eos) return;  // without an end-of-text id the stream is one document
  stream_.for_each_equal(split.begin, split.end, *eos, [&](int64_t i) {
    if (i - split.begin > 0) split.doc_starts.push_back(i - split.begin);
  });
}

void ShardsDataset::prepare(const data::PrepareOptions& options) {
  KILN_CHECK(!prepared_, common_.train_where, "Dataset::prepare called twice");
  const std::string& where = common_.train_where;
  std::vector<std::string> train_files, val_files;
  std::string dir;
  if (options_.paths.size() == 1 && fs::is_directory(options_.paths[0])) {
    dir = options_.paths[0];
    train_files = glob_files((fs::path(dir) / "train_*.bin").string());
    val_files = glob_files((fs::path(dir) / "val_*.bin").string());
    KILN_CHECK(!train_files.empty(), where, "the folder \"", dir,
               "\" holds no train_*.bin shards (`kiln data tokenize SPEC --out DIR` writes them)");
    if (!val_files.empty() && options_.val_fraction)
      KILN_FAIL(common_.val_where, "the folder \"", dir,
                "\" holds its own val split (val_*.bin); leave split out, or name the train shards "
                "alone");
  } else {
    train_files = expand_paths(options_.paths, where);
    const fs::path parent = fs::path(train_files.front()).parent_path();
    dir = (parent.empty() ? fs::path(".") : parent).string();
  }

  shards_.clear();
  for (const auto& f : train_files) shards_.emplace_back(f);
  for (const auto& f : val_files) shards_.emplace_back(f);
  const data::ShardInfo& first = shards_.front().info();
  for (const data::ShardFile& s : shards_) {
    KILN_CHECK(s.info().vocab_size == first.vocab_size && s.info().eos == first.eos, where,
               "shard ", s.path(), " was written with a vocabulary of ", s.info().vocab_size,
               " (end-of-text ", s.info().eos ? std::to_string(*s.info().eos) : "none",
               "), but shard ", shards_.front().path(), " with ", first.vocab_size,
               " (end-of-text ", first.eos ? std::to_string(*first.eos) : "none",
               "); shards of one dataset share their tokenizer");
  }

  if (!tokenizer_) {
    tokenizer_ = load_saved_tokenizer(dir);
    KILN_CHECK(tokenizer_, where,
               "no tokenizer: give tokenizer = ... or keep the tokenizer_spec.json that `kiln data "
               "tokenize` writes beside the shards (looked in \"",
               dir, "\")");
  }
  KILN_CHECK(tokenizer_->vocab_size() == first.vocab_size, where, "shard ", shards_.front().path(),
             " holds ids of a vocabulary of ", first.vocab_size, ", but the tokenizer has ",
             tokenizer_->vocab_size());
  KILN_CHECK(tokenizer_->eos_id() == first.eos, where, "shard ", shards_.front().path(),
             " separates documents with end-of-text ",
             first.eos ? std::to_string(*first.eos) : "none", ", but the tokenizer's is ",
             tokenizer_->eos_id() ? std::to_string(*tokenizer_->eos_id()) : "none");

  stream_ = TokenStream();
  int64_t n_train = 0;
  for (size_t i = 0; i < shards_.size(); ++i) {
    stream_.add(shards_[i].data(), shards_[i].info().token_bytes, shards_[i].size());
    if (i < train_files.size()) n_train += shards_[i].size();
  }
  const int64_t n = stream_.size();
  if (val_files.empty()) {
    double val = options_.val_fraction.value_or(0.1);
    n_train = int64_t(std::floor(double(n) * (1.0 - val)));
  }
  splits_[0].begin = 0;
  splits_[0].end = n_train;
  splits_[1].begin = n_train;
  splits_[1].end = n;
  KILN_CHECK(n_train > 0, where, "the train split holds no tokens (the shards are empty)");
  if (needs_documents())
    for (SplitTokens& s : splits_) find_documents(s, first.eos);
  finish_prepare(options);
}

std::span<const int32_t> ShardsDataset::tokens(Split split) const {
  check_prepared("tokens");
  const int s = int(split);
  std::call_once(materialised_[s], [&] {
    tokens_[s].resize(size_t(splits_[s].size()));
    stream_.read(splits_[s].begin, splits_[s].size(), tokens_[s].data());
  });
  return tokens_[s];
}

}  // namespace kiln::datasets
