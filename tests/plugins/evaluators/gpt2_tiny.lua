-- The tiny GPT-2 of the batch-invariance tests: models/gpt2.lua at 32 wide, 2 layers of 4
-- heads, context 64, a vocabulary of 257 (the bytes and one prefix token).
local gpt2 = include "../../../models/gpt2.lua"
return { model = gpt2 { vocab = 257, d_model = 32, n_layers = 2, n_heads = 4, context = 64 } }
