-- LLaMA (Touvron et al. 2023): pre-norm RMSNorm blocks, SwiGLU MLP (hidden 8/3 d_model rounded
-- up to a multiple of 256), rotary positions, grouped-query attention (LLaMA 2 70B, LLaMA 3),
-- no biases, an untied LM head, normal(0, 0.02) initialisation.
--
-- As a spec of its own this file is a small LLaMA-shaped model (8 layers, 512 wide, 8 query
-- and 2 key/value heads, vocab 32000). Included, it is a function of free sizes:
--
--   local llama = include "models/llama.lua"
--   model = llama { d_model = 4096, n_layers = 32, n_heads = 32, context = 4096 }  -- 7B shape
--   model = llama { vocab = 65, d_model = 128, n_layers = 4, n_heads = 4, n_kv_heads = 2 }
--
-- Options: vocab (32000), d_model, n_layers, n_heads, n_kv_heads (n_heads), d_mlp
-- (8/3 d_model rounded to multiple_of), multiple_of (256), seq_len or context (2048),
-- rope_theta (10000), norm_eps (1e-5), dropout (0), tie_embeddings (false), blocks.

local read_options = include "lib/options.lua"

local options = { vocab = true, d_model = true, n_layers = true, n_heads = true, n_kv_heads = true,
                  d_mlp = true, multiple_of = true, seq_len = true, context = true,
                  rope_theta = true, norm_eps = true, dropout = true, tie_embeddings = true,
                  blocks = true }

local function llama(o)
  local pick
  o, pick = read_options("llama", o, options)
  return decoder {
    vocab = pick("vocab", 32000),
    d_model = pick("d_model", 512),
    n_layers = pick("n_layers", 8),
    n_heads = pick("n_heads", 8),
    n_kv_heads = o.n_kv_heads,
    d_mlp = o.d_mlp,
    context = o.context or o.seq_len or 2048,
    activation = "swiglu",
    bias = false,
    dropout = pick("dropout", 0.0),
    norm = rms_norm { eps = pick("norm_eps", 1e-5) },
    norm_position = "pre",
    pos = rope { theta = pick("rope_theta", 10000.0) },
    block = block { mlp = mlp { multiple_of = pick("multiple_of", 256) } },
    blocks = o.blocks,
    tie_embeddings = pick("tie_embeddings", false),
    init = "llama",
    init_std = 0.02,
  }
end

return setmetatable({ model = llama { n_kv_heads = 2 } }, {
  __call = function(_, o) return llama(o) end,
})
