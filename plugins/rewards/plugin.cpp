// The rewards plugin: what ppo and grpo maximise. token_set is a rule (the fraction of the
// completion's tokens in a target set); reward_model scores with a trained reward model.
#include "core/registry/plugin.h"
#include "plugins/rewards/model_reward.h"
#include "plugins/rewards/token_set.h"

namespace kiln::rewards {
namespace {

void register_components(Registry& r) {
  Schema ts(
      "a rule reward: the fraction of a completion's tokens (its final EOS not counted) that "
      "are in a target set, given as token ids and/or text whose tokens join the set; 0 for a "
      "completion with no other token");
  ts.list("ids", ParamType::integer(), Config::list({}), "token ids in the target set");
  ts.string("text", "", "text whose tokens (by the data's tokenizer) join the target set");
  r.add<train::Reward>("reward", "token_set", ts, [](const Config& c) {
    std::vector<int32_t> ids;
    for (const Config& id : c.at("ids").items()) ids.push_back(int32_t(id.as_int()));
    const std::string text = c.get<std::string>("text");
    if (ids.empty() && text.empty()) c.fail("token_set: the target set is empty; give ids or text");
    return std::make_shared<TokenSetReward>(ids, text);
  });

  Schema rm(
      "a reward model's score: a run of the reward_model objective (a scalar_head model) read "
      "at the completion's last token of prompt + completion; loaded when training starts; it "
      "must use the policy's tokenizer");
  rm.string("run", "", "the reward model's run directory");
  rm.integer("step", -1, "the checkpoint's step (-1: the latest)").min(-1);
  rm.integer("batch", 16, "rows scored in one forward").min(1);
  r.add<train::Reward>("reward", "reward_model", rm, [](const Config& c) {
    const std::string run = c.get<std::string>("run");
    if (run.empty()) c.at("run").fail("reward_model: give the reward model's run directory");
    return std::make_shared<ModelReward>(run, c.get<int64_t>("step"), c.get<int64_t>("batch"));
  });
}

}  // namespace
}  // namespace kiln::rewards

KILN_PLUGIN("kiln_rewards", "0.1.0", kiln::rewards::register_components)
