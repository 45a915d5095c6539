-- BART (Lewis et al. 2020): a Transformer encoder-decoder with post-norm blocks (LayerNorm,
-- eps 1e-5), GELU MLPs (4x), learned positions for each stack, a LayerNorm of the embeddings
-- in each stack, biases everywhere, one token embedding shared by encoder, decoder and the
-- tied head, dropout 0.1. The decoder starts from </s> (id 2 in BART's vocabulary).
--
-- As a spec of its own this file is BART-base with its byte-level BPE vocabulary of 50265:
-- 139,417,344 parameters. (Hugging Face's BartModel has 139,420,416: its position tables have
-- two more rows, as its positions start at 2.) Included, it is a function that makes a model:
--
--   local bart = include "models/bart.lua"
--   model = bart { size = "large" }
--   model = bart { size = "tiny", vocab = 2000, dropout = 0 }
--
-- Options: size ("tiny", "base", "large"), vocab (50265), d_model, n_layers (each stack),
-- n_decoder_layers, n_heads, d_mlp (4 d_model), seq_len or context (1024), dropout (0.1),
-- decoder_start (2), norm_position ("post" as the paper; "pre" adds a final norm to each
-- stack, as mBART).

local sizes = {
  tiny  = { n_layers = 2,  d_model = 128,  n_heads = 2 },
  base  = { n_layers = 6,  d_model = 768,  n_heads = 12 },  -- 140M
  large = { n_layers = 12, d_model = 1024, n_heads = 16 },  -- 406M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, base or large" }

local options = { size = true, vocab = true, d_model = true, n_layers = true,
                  n_decoder_layers = true, n_heads = true, d_mlp = true, seq_len = true,
                  context = true, dropout = true, decoder_start = true, norm_position = true }

local function bart(o)
  local pick, size
  o, pick, size = read_options("bart", o, options, presets)
  return encoder_decoder {
    vocab = pick("vocab", 50265),
    d_model = pick("d_model", size.d_model),
    n_layers = pick("n_layers", size.n_layers),
    n_decoder_layers = o.n_decoder_layers,
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    context = o.context or o.seq_len or 1024,
    activation = "gelu",
    bias = true,
    dropout = pick("dropout", 0.1),
    norm = layer_norm { eps = 1e-5 },
    norm_position = pick("norm_position", "post"),
    pos = learned {},
    embed_norm = true,
    embed_scale = 1.0,
    scale_logits = false,
    tie_embeddings = true,
    decoder_start = pick("decoder_start", 2),
    init_std = 0.02,
  }
end

return setmetatable({ model = bart { size = "base" } }, {
  __call = function(_, o) return bart(o) end,
  __index = { sizes = sizes },
})
