-- A causal baseline for comparisons (not a family test): a GPT-2 of the tiny encoders' size
-- (2 layers, 128 wide, 2 heads) trained with causal_lm under the same settings (common.lua).
local gpt2 = include "../../models/gpt2.lua"
local common = include "common.lua"

return {
  seed = 1,
  model = gpt2 { vocab = 65, d_model = 128, n_layers = 2, n_heads = 2, seq_len = common.seq_len },
  data = common.data(),
  train = common.train(causal_lm {}),
}
