-- The tiny LLaMA of the whole-model reference test (tests/reference/README.md): models/llama.lua
-- at vocab 64, 32 wide, 2 layers of 4 query and 2 key/value heads (GQA), context 16 (RoPE,
-- RMSNorm, SwiGLU with a hidden width of 8/3 * 32 rounded up to a multiple of 32 = 96, no
-- biases, an untied head). The test sets data.path to the fixture's inputs file.
local llama = include "../../models/llama.lua"

return {
  seed = 1337,
  model = llama { vocab = 64, d_model = 32, n_layers = 2, n_heads = 4, n_kv_heads = 2,
                  multiple_of = 32, context = 16 },
  data = reference_batch { path = "fixtures/llama.inputs.safetensors" },
  train = {
    batch = 4, seq_len = 16, steps = 10,
    optimizer = adamw { lr = 3e-3, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 },
    schedule = constant {},
    grad_clip = 1.0,
    eval_batches = 0,
  },
}
