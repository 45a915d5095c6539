-- The tiny T5 of the whole-model reference test (tests/reference/README.md): models/t5.lua
-- (v1.0) at vocab 64, 32 wide, 2 encoder and 2 decoder layers of 4 heads, ReLU MLP 64, context
-- 16: pre-norm blocks with RMSNorm (no mean subtraction, eps 1e-6), no biases, unscaled
-- attention scores, the relative position bias of 16 buckets up to distance 10 (so that 16
-- positions reach the logarithmic buckets and the last one), one table per stack shared by
-- its layers, bidirectional in the encoder and causal in the decoder, cross-attention, a final
-- norm in each stack, the head tied to the shared token embedding with the final states
-- scaled by d_model^-0.5, decoder start id 0, no dropout. It trains with seq2seq on the
-- fixture's pairs: the encoder reads tokens.inputs, the decoder writes tokens.targets.
-- The test sets data.path to the fixture's inputs file.
local t5 = include "../../models/t5.lua"

return {
  seed = 1337,
  model = t5 { size = "tiny", vocab = 64, d_model = 32, n_layers = 2, n_heads = 4, d_mlp = 64,
               context = 16, dropout = 0, num_buckets = 16, max_distance = 10 },
  data = reference_batch { path = "fixtures/t5.inputs.safetensors" },
  train = {
    objective = seq2seq {},
    batch = 4, seq_len = 16, steps = 10,
    optimizer = adamw { lr = 3e-3, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 },
    schedule = constant {},
    grad_clip = 1.0,
    eval_batches = 0,
  },
}
