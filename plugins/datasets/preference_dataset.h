// The post-training datasets: `preference` (pairs for reward_model, dpo, orpo) and
// `prompt_response` (sft). Records are read, tokenised once at prepare() (preference.h says
// how an example is laid out), split into train and val (the last `val` fraction of the
// records, or files of their own) and drawn in an order shuffled each epoch by the seed.
// next(split, B, T) gives B pairs (2 B rows: Batch::pairs = B) or B sft rows, at most T
// tokens a row (pairs are padded to their longest row).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/data/dataset.h"
#include "plugins/datasets/preference.h"

namespace kiln::datasets {

struct PostTrainOptions {
  bool pairs = true;             ///< preference pairs; false: prompt/response (sft)
  std::string format = "jsonl";  ///< pairs: "jsonl" or "hh-rlhf"
  std::string prompt_field = "prompt", response_field = "response";  ///< sft
  bool pack = false;               ///< sft: several examples a row, with segment ids
  /// A chat template: each prompt and response is written into these (apply_template).
  std::string prompt_template = "{prompt}", response_template = "{response}";
  /// Prompts only (RL): records hold prompt_field alone; a row is one prompt, no EOS added,
  /// every target -100, Batch::prompt_lengths its length.
  bool prompts_only = false;
  std::vector<std::string> paths;  ///< files and globs (.gz read decompressed)
  std::vector<std::string> val_paths;
  double val_fraction = 0.1;  ///< used when val_paths is empty
  int64_t max_records = 0;    ///< keep only the first this many per split (0: all)
  bool shuffle = true;
  /// pairs: JSON lines {"chosen": logp, "rejected": logp}, the reference model's summed
  /// response log-probs of each pair, one line per pair kept (the train split's pairs then the
  /// val split's, as examples_in_order() gives them), as `kiln data reference-logps` writes them;
  /// next() then fills Batch::reference_logps. They hold for the seq_len they were computed at
  /// (truncation).
  std::string reference_logps;
  std::string where = "data: ";  ///< error prefix
};

class PostTrainDataset : public data::Dataset {
 public:
  PostTrainDataset(PostTrainOptions options, std::shared_ptr<data::Tokenizer> tokenizer);
  std::shared_ptr<data::Tokenizer> tokenizer() const override { return tokenizer_; }
  void prepare(const data::PrepareOptions& options) override;
  data::Batch next(data::Split split, int64_t batch, int64_t seq_len) override;
  std::span<const int32_t> tokens(data::Split split) const override;
  /// { train = examples drawn, val = examples drawn }
  Config state() const override;
  void load_state(const Config& state) override;

  /// Pairs skipped because their chosen and rejected responses were identical (both splits).
  int64_t identical_skipped() const { return identical_; }
  /// hh-rlhf pairs skipped for want of a shared prompt.
  int64_t unsplit_skipped() const { return no_prompt_; }
  /// Pairs [first, first + n) of a split in their stored order (no shuffle, no state change):
  /// what a reference model scores once to write reference_logps. Pairs only.
  data::Batch examples_in_order(data::Split split, size_t first, size_t n,
                                int64_t seq_len) const override;
  /// Examples of a split: pairs (chosen, rejected) or sft examples.
  size_t examples(data::Split split) const override { return first_[int(split)].size(); }

 private:
  void load(const std::vector<std::string>& files, std::vector<Example>& first,
            std::vector<Example>& second);
  size_t index(data::Split split, int64_t drawn) const;

  PostTrainOptions o_;
  std::shared_ptr<data::Tokenizer> tokenizer_;
  uint64_t seed_ = 0;
  int32_t pad_ = 0;
  std::vector<Example> first_[2], second_[2];  // chosen / rejected, or sft examples in first_
  std::vector<double> ref_[2];  // stored reference log-probs: chosen, rejected per pair
  std::vector<int32_t> tokens_[2];
  int64_t drawn_[2] = {0, 0};
  int64_t identical_ = 0, no_prompt_ = 0;
  mutable std::vector<size_t> perm_;  // the train split's order this epoch
  mutable uint64_t perm_key_ = 0;
};

}  // namespace kiln::datasets
