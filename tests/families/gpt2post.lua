-- Comparison (not a family test): the gpt2.lua baseline with post-norm blocks and no final norm.
local common = include "common.lua"
return {
  seed = 1,
  model = decoder { vocab = 65, d_model = 128, n_layers = 2, n_heads = 2, context = common.seq_len,
                    activation = "gelu", norm = layer_norm { eps = 1e-5 }, norm_position = "post",
                    final_norm = false, init_std = 0.02 },
  data = common.data(),
  train = common.train(causal_lm {}),
}
