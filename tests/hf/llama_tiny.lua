-- The tiny LLaMA of the Hugging Face checkpoint tests: models/llama.lua at 32 wide, 2 layers of
-- 4 query and 2 key/value heads (GQA), SwiGLU hidden 96, context 16, vocabulary 260, untied.
local llama = include "../../models/llama.lua"
return { model = llama { vocab = 260, d_model = 32, n_layers = 2, n_heads = 4, n_kv_heads = 2,
                         multiple_of = 32, context = 16, rope_theta = 500000 } }
