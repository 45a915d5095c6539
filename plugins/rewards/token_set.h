// The token_set rule reward: the fraction of a completion's tokens that belong to a target
// set (given as token ids, and/or as text whose tokens join the set). A completion's final
// EOS is not counted (it ends the completion, it is not part of it); a completion with no
// other token scores 0.
#pragma once

#include <optional>
#include <set>
#include <string>

#include "core/train/reward.h"

namespace kiln::rewards {

class TokenSetReward : public train::Reward {
 public:
  TokenSetReward(std::vector<int32_t> ids, std::string text);
  /// Encodes the text (which needs the tokenizer) and learns the EOS id.
  void prepare(const train::RewardContext& context) override;
  std::vector<double> score(const std::vector<std::vector<int32_t>>& prompts,
                            const std::vector<std::vector<int32_t>>& completions) override;
  /// Sets the EOS id directly (tests without a tokenizer).
  void set_eos(std::optional<int32_t> eos) { eos_ = eos; }
  const std::set<int32_t>& targets() const { return set_; }

 private:
  std::set<int32_t> set_;
  std::string text_;
  std::optional<int32_t> eos_;
};

}  // namespace kiln::rewards
