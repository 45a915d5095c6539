-- What the family training tests (test_family_training.cpp) share: tiny Shakespeare read
-- character by character (its 65 distinct characters, then the special tokens each family
-- needs), and a short run: AdamW at 2e-3 with 20 warmup steps and a cosine decay over the 300
-- steps, batch 8, rows of 64 tokens, no evaluation. The test sets data.path to the shared data.
local common = {}

common.seq_len = 64

-- The text split 90/10 (the test measures held-out accuracy on the last tenth).
function common.data(specials, sentinels, eos)
  return text {
    path = env("KILN_DATA", "../../../shared/data/tinyshakespeare/input.txt"),
    tokenizer = char { special_tokens = specials or {}, sentinels = sentinels or 0, eos = eos },
    split = { val = 0.1 },
  }
end

function common.train(objective)
  return {
    objective = objective,
    optimizer = adamw { lr = 2e-3, betas = { 0.9, 0.99 }, weight_decay = 0.01 },
    schedule = cosine { warmup = 20, min_ratio = 0.1 },
    batch = 8,
    seq_len = common.seq_len,
    steps = 300,
    grad_clip = 1.0,
    eval_batches = 0,
  }
end

return common
