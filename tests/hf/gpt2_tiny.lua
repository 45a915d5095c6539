-- The tiny GPT-2 of the Hugging Face checkpoint tests: models/gpt2.lua at 32 wide, 2 layers of
-- 4 heads, context 16, and a vocabulary of 260 (the 256 bytes, two merges, <|endoftext|>, and
-- one unused row).
local gpt2 = include "../../models/gpt2.lua"
return { model = gpt2 { vocab = 260, d_model = 32, n_layers = 2, n_heads = 4, context = 16 } }
