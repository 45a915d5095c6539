-- The tiny BERT of the whole-model reference test (tests/reference/README.md): models/bert.lua
-- at vocab 64, 32 wide, 2 layers of 4 heads, MLP 128, context 16 (post-norm blocks with
-- LayerNorm eps 1e-12, bidirectional attention, exact GELU, biases, learned positions and two
-- token types, the LayerNorm of the embeddings, the MLM head: dense + GELU + LayerNorm, the
-- decoder tied to the token embedding, plus a bias), no NSP head, no dropout. It trains with
-- mlm on the fixture's batch as it is masked there (masking = "given": inputs with [MASK]s,
-- targets the original tokens at the selected positions and -100 elsewhere).
-- The test sets data.path to the fixture's inputs file.
local bert = include "../../models/bert.lua"

return {
  seed = 1337,
  model = bert { size = "tiny", vocab = 64, d_model = 32, n_layers = 2, n_heads = 4,
                 context = 16, dropout = 0, nsp = false },
  data = reference_batch { path = "fixtures/bert.inputs.safetensors" },
  train = {
    objective = mlm { masking = "given" },
    batch = 4, seq_len = 16, steps = 10,
    optimizer = adamw { lr = 3e-3, betas = { 0.9, 0.95 }, eps = 1e-8, weight_decay = 0.1 },
    schedule = constant {},
    grad_clip = 1.0,
    eval_batches = 0,
  },
}
