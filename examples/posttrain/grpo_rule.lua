-- GRPO on a rule reward: the policy earns the fraction of its completion's tokens that are
-- " the" or " a" (token_set reads the set from text with the data's tokenizer). A smoke run of
-- the RL pipeline (prompts -> batched KV-cached rollouts -> reward -> group advantages ->
-- clipped loss with k3 KL to the starting policy) on a small GPT-2 shape trained from scratch;
-- give it a pretrained policy for a real run. Run from the repository's root:
--   kiln train examples/posttrain/grpo_rule.lua --out runs/grpo_rule
-- The log holds reward, kl, entropy, clip_fraction and time/generate_s against time/train_s.
local gpt2_model = include "../../models/gpt2.lua"
return {
  model = gpt2_model { d_model = 64, n_layers = 2, n_heads = 2, seq_len = 64 },
  data = prompts {
    path = "examples/posttrain/rule_prompts.jsonl",
    tokenizer = gpt2 {},
    val = 0.25,
  },
  train = {
    objective = grpo {
      reward = token_set { text = " the a" },
      group = 4,         -- completions per prompt: 4 prompts a batch -> 16 completions
      beta = 0.04,       -- weight of the k3 KL to the starting policy
      max_tokens = 16,
      temperature = 1.0,
    },
    optimizer = adamw { lr = 1e-3 },
    batch = 4, seq_len = 16, steps = 20, log_every = 5, eval_batches = 1,
  },
}
