-- nanoGPT's shakespeare-char configuration (config/train_shakespeare_char.py, its CPU
-- settings): a character-level GPT-2 of 4 layers, 4 heads and 128 dims over blocks of 64
-- characters, trained with AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1), 100 warmup
-- steps and a cosine decay to 1e-4 at 2000 steps, batch 12, no dropout, gradient clipping
-- at 1.0, on tiny Shakespeare split 90/10. nanoGPT reports a val loss of about 1.88.
--
-- The data comes from $KILN_DATA, else ../shared/data/tinyshakespeare/input.txt. Its 65
-- distinct characters are the vocabulary.
local gpt2 = include "gpt2.lua"

return {
  model = gpt2 { vocab = 65, d_model = 128, n_layers = 4, n_heads = 4, seq_len = 64,
                 dropout = 0.0 },
  data = text { path = env("KILN_DATA", "../shared/data/tinyshakespeare/input.txt"),
                tokenizer = char {}, split = { val = 0.1 } },
  train = {
    objective = causal_lm {},
    optimizer = adamw { lr = 1e-3, betas = { 0.9, 0.99 }, weight_decay = 0.1 },
    schedule = cosine { warmup = 100, min_ratio = 0.1 },
    batch = 12,
    steps = 2000,
    grad_clip = 1.0,
    eval_every = 250,
  },
}
