-- ELECTRA (Clark et al. 2020): a discriminator with BERT's architecture and a generator, an MLM
-- of the same depth a fraction of its width (hidden size, heads and MLP width: 1/4 small and
-- large, 1/3 base), sharing the embeddings (token, position, type, their LayerNorm; each side
-- projects them to its width when it differs); the discriminator's head is dense + GELU + one
-- logit per token. Dropout 0.1, LayerNorm eps 1e-12, normal(0, 0.02).
--
-- As a spec of its own this file is ELECTRA-base with BERT's uncased vocabulary of 30522:
-- 119,386,427 parameters, Hugging Face's electra-base-discriminator (ElectraForPreTraining,
-- 109,483,009) plus electra-base-generator without the embeddings it shares (9,903,418).
-- Included, it is a function that makes a model:
--
--   local electra = include "models/electra.lua"
--   model = electra { size = "small" }
--   model = electra { size = "tiny", vocab = 2000, dropout = 0 }
--
-- Options: size ("tiny", "small", "base", "large"), vocab (30522), d_model, d_embed, n_layers,
-- n_heads, d_mlp (4 d_model), generator_size, seq_len or context (512), dropout (0.1).

local sizes = {
  tiny  = { n_layers = 2,  d_model = 128,  n_heads = 4,  d_embed = 128,  generator_size = 1 / 4 },
  small = { n_layers = 12, d_model = 256,  n_heads = 4,  d_embed = 128,  generator_size = 1 / 4 },
  base  = { n_layers = 12, d_model = 768,  n_heads = 12, d_embed = 768,  generator_size = 1 / 3 },
  large = { n_layers = 24, d_model = 1024, n_heads = 16, d_embed = 1024, generator_size = 1 / 4 },
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, small, base or large" }

local options = { size = true, vocab = true, d_model = true, d_embed = true, n_layers = true,
                  n_heads = true, d_mlp = true, generator_size = true, seq_len = true,
                  context = true, dropout = true }

local function electra_model(o)
  local pick, size
  o, pick, size = read_options("electra", o, options, presets)
  return electra {
    vocab = pick("vocab", 30522),
    d_model = pick("d_model", size.d_model),
    d_embed = pick("d_embed", size.d_embed),
    n_layers = pick("n_layers", size.n_layers),
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    generator_size = pick("generator_size", size.generator_size),
    context = o.context or o.seq_len or 512,
    n_types = 2,
    activation = "gelu",
    bias = true,
    dropout = pick("dropout", 0.1),
    norm = layer_norm { eps = 1e-12 },
    norm_position = "post",
    pos = learned {},
    embed_norm = true,
    mlm_activation = "gelu",
    init_std = 0.02,
  }
end

return setmetatable({ model = electra_model { size = "base" } }, {
  __call = function(_, o) return electra_model(o) end,
  __index = { sizes = sizes },
})
