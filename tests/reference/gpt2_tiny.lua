-- The tiny GPT-2 of the whole-model reference test (tests/reference/README.md): models/gpt2.lua
-- at vocab 64, 32 wide, 2 layers of 4 heads, context 16 (learned positions, LayerNorm, GELU
-- (tanh), biases, the head tied to the token embedding, GPT-2's initialisation).
-- The test sets data.path to the fixture's inputs file.
local gpt2 = include "../../models/gpt2.lua"

return {
  seed = 1337,
  model = gpt2 { vocab = 64, d_model = 32, n_layers = 2, n_heads = 4, context = 16 },
  data = reference_batch { path = "fixtures/gpt2.inputs.safetensors" },
  train = {
    batch = 4, seq_len = 16, steps = 10,
    optimizer = adamw { lr = 3e-3, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 },
    schedule = constant {},
    grad_clip = 1.0,
    eval_batches = 0,
  },
}
