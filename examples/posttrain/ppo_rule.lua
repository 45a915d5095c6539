-- PPO on the same rule reward as grpo_rule.lua, with a value head on the policy (GAE on its
-- values), the KL penalty to the starting policy in the per-token rewards, and 4 epochs of 2
-- minibatches per rollout. Run from the repository's root:
--   kiln train examples/posttrain/ppo_rule.lua --out runs/ppo_rule
-- To score with a trained reward model instead of the rule, replace the reward with
--   reward = reward_model { run = "runs/rm" }   (a run of the reward_model objective)
local gpt2_model = include "../../models/gpt2.lua"
return {
  model = value_head { model = gpt2_model { d_model = 64, n_layers = 2, n_heads = 2, seq_len = 64 } },
  data = prompts {
    path = "examples/posttrain/rule_prompts.jsonl",
    tokenizer = gpt2 {},
    val = 0.25,
  },
  train = {
    objective = ppo {
      reward = token_set { text = " the a" },
      kl_coef = 0.05,
      missing_eos_penalty = 1.0,
      max_tokens = 16,
      epochs = 4, minibatches = 2,
    },
    optimizer = adamw { lr = 1e-3 },
    batch = 8, seq_len = 16, steps = 40, log_every = 8, eval_batches = 1,
  },
}
