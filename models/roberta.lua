-- RoBERTa (Liu et al. 2019): BERT's architecture with a byte-level BPE vocabulary of 50265,
-- one token type, LayerNorm eps 1e-5, no NSP head (it trains with dynamic masking alone), and
-- 514 position rows (Hugging Face's table, whose positions start after the padding index).
--
-- As a spec of its own this file is RoBERTa-base: 124,697,433 parameters, as Hugging Face's
-- RobertaForMaskedLM. Included, it is a function that makes a model:
--
--   local roberta = include "models/roberta.lua"
--   model = roberta { size = "large" }
--   model = roberta { size = "tiny", vocab = 2000, dropout = 0 }
--
-- Options: size ("tiny", "base", "large"), vocab (50265), d_model, n_layers, n_heads, d_mlp
-- (4 d_model), seq_len or context (514), dropout (0.1), pos (learned{}).

local sizes = {
  tiny  = { n_layers = 2,  d_model = 128,  n_heads = 2 },
  base  = { n_layers = 12, d_model = 768,  n_heads = 12 },  -- 125M
  large = { n_layers = 24, d_model = 1024, n_heads = 16 },  -- 355M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, base or large" }

local options = { size = true, vocab = true, d_model = true, n_layers = true, n_heads = true,
                  d_mlp = true, seq_len = true, context = true, dropout = true, pos = true }

local function roberta(o)
  local pick, size
  o, pick, size = read_options("roberta", o, options, presets)
  return encoder {
    vocab = pick("vocab", 50265),
    d_model = pick("d_model", size.d_model),
    n_layers = pick("n_layers", size.n_layers),
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    context = o.context or o.seq_len or 514,
    n_types = 1,
    activation = "gelu",
    bias = true,
    dropout = pick("dropout", 0.1),
    norm = layer_norm { eps = 1e-5 },
    norm_position = "post",
    pos = o.pos or learned {},
    embed_norm = true,
    mlm_head = true,
    mlm_activation = "gelu",
    tie_embeddings = true,
    sentence_head = 0,
    init_std = 0.02,
  }
end

return setmetatable({ model = roberta { size = "base" } }, {
  __call = function(_, o) return roberta(o) end,
  __index = { sizes = sizes },
})
