-- GPT-2 (Radford et al. 2019): pre-norm LayerNorm blocks, tanh-approximated GELU MLP (4x),
-- learned positions, biases everywhere, the LM head tied to the token embedding, GPT-2's
-- initialisation (normal 0.02, residual projections scaled by 1/sqrt(2 n_layers)).
--
-- As a spec of its own this file is GPT-2 small (124,439,808 parameters with vocab 50257).
-- Included, it is a function that makes a model:
--
--   local gpt2 = include "models/gpt2.lua"
--   model = gpt2 { size = "medium" }
--   model = gpt2 { vocab = 65, d_model = 128, n_layers = 4, n_heads = 4, seq_len = 64,
--                  pos = rope { theta = 10000 } }                     -- a free size
--
-- Options: size ("small", "medium", "large", "xl": the presets below; the explicit sizes
-- override them), vocab (50257), d_model, n_layers, n_heads, d_mlp (4 d_model), seq_len or
-- context (1024), dropout (0), bias (true), tie_embeddings (true), pos (learned{}),
-- activation ("gelu_tanh"), blocks (a list of blocks, e.g. to alternate local and global
-- attention).

local sizes = {
  small  = { n_layers = 12, d_model = 768,  n_heads = 12 },  -- 124M
  medium = { n_layers = 24, d_model = 1024, n_heads = 16 },  -- 355M
  large  = { n_layers = 36, d_model = 1280, n_heads = 20 },  -- 774M
  xl     = { n_layers = 48, d_model = 1600, n_heads = 25 },  -- 1558M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "small", names = "small, medium, large or xl" }

local options = { size = true, vocab = true, d_model = true, n_layers = true, n_heads = true,
                  d_mlp = true, seq_len = true, context = true, dropout = true, bias = true,
                  tie_embeddings = true, pos = true, activation = true, blocks = true }

local function gpt2(o)
  local pick, size
  o, pick, size = read_options("gpt2", o, options, presets)
  return decoder {
    vocab = pick("vocab", 50257),
    d_model = pick("d_model", size.d_model),
    n_layers = pick("n_layers", size.n_layers),
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    context = o.context or o.seq_len or 1024,
    activation = pick("activation", "gelu_tanh"),
    bias = pick("bias", true),
    dropout = pick("dropout", 0.0),
    norm = layer_norm { eps = 1e-5 },
    norm_position = "pre",
    pos = o.pos or learned {},
    blocks = o.blocks,
    tie_embeddings = pick("tie_embeddings", true),
    init = "gpt2",
    init_std = 0.02,
  }
end

return setmetatable({ model = gpt2 { size = "small" } }, {
  __call = function(_, o) return gpt2(o) end,
  __index = { sizes = sizes },
})
