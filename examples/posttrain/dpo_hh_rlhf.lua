-- DPO on Anthropic's hh-rlhf (the helpful-base test split, the only one kept in the shared
-- data: a smoke run of the pipeline, not a model worth keeping) with GPT-2's tokenizer and a
-- small GPT-2 shape trained from scratch. Replace the model with a pretrained policy for a
-- real run (the reference is a frozen copy of whatever the model starts as).
--   kiln train examples/posttrain/dpo_hh_rlhf.lua --out runs/dpo
local gpt2_model = include "../../models/gpt2.lua"
local data = env("KILN_SHARED_DATA", "../shared/data")
return {
  model = gpt2_model { d_model = 64, n_layers = 2, n_heads = 2, seq_len = 256 },
  data = preference {
    path = data .. "/hh-rlhf/helpful-base/test.jsonl.gz",
    format = "hh-rlhf",
    tokenizer = gpt2 {},
    max_records = 512,
  },
  train = {
    objective = dpo { beta = 0.1 },
    optimizer = adamw { lr = 1e-4 },
    batch = 4, steps = 20, log_every = 5, eval_batches = 4,
  },
}
