-- BERT (Devlin et al. 2019): post-norm blocks (LayerNorm, eps 1e-12) of bidirectional
-- attention, an exact-GELU MLP (4x), learned positions (512) and two token types, a LayerNorm of
-- the embeddings, the MLM head (dense + GELU + LayerNorm, the decoder tied to the token
-- embedding, plus a bias), the pooler and the NSP classifier, dropout 0.1, normal(0, 0.02).
--
-- As a spec of its own this file is BERT-base with the uncased vocabulary of 30522 pieces:
-- 110,106,428 parameters, as Hugging Face's BertForPreTraining (109,482,240 in BertModel).
-- Included, it is a function that makes a model:
--
--   local bert = include "models/bert.lua"
--   model = bert { size = "large" }
--   model = bert { size = "tiny", vocab = 2000, dropout = 0 }      -- Google's BERT-Tiny shape
--
-- Options: size ("tiny", "mini", "small", "medium", "base", "large"; tiny to medium are the
-- shapes of Turc et al. 2019), vocab (30522), d_model, n_layers, n_heads, d_mlp (4 d_model),
-- seq_len or context (512), n_types (2), dropout (0.1), nsp (true: the pooler and NSP head),
-- norm_position ("post"), pos (learned{}).

local sizes = {
  tiny   = { n_layers = 2,  d_model = 128,  n_heads = 2 },
  mini   = { n_layers = 4,  d_model = 256,  n_heads = 4 },
  small  = { n_layers = 4,  d_model = 512,  n_heads = 8 },
  medium = { n_layers = 8,  d_model = 512,  n_heads = 8 },
  base   = { n_layers = 12, d_model = 768,  n_heads = 12 },  -- 110M
  large  = { n_layers = 24, d_model = 1024, n_heads = 16 },  -- 335M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base",
                  names = "tiny, mini, small, medium, base or large" }

local options = { size = true, vocab = true, d_model = true, n_layers = true, n_heads = true,
                  d_mlp = true, seq_len = true, context = true, n_types = true, dropout = true,
                  nsp = true, norm_position = true, pos = true }

local function bert(o)
  local pick, size
  o, pick, size = read_options("bert", o, options, presets)
  return encoder {
    vocab = pick("vocab", 30522),
    d_model = pick("d_model", size.d_model),
    n_layers = pick("n_layers", size.n_layers),
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    context = o.context or o.seq_len or 512,
    n_types = pick("n_types", 2),
    activation = "gelu",
    bias = true,
    dropout = pick("dropout", 0.1),
    norm = layer_norm { eps = 1e-12 },
    norm_position = pick("norm_position", "post"),
    pos = o.pos or learned {},
    embed_norm = true,
    mlm_head = true,
    mlm_activation = "gelu",
    tie_embeddings = true,
    sentence_head = pick("nsp", true) and 2 or 0,
    init_std = 0.02,
  }
end

return setmetatable({ model = bert { size = "base" } }, {
  __call = function(_, o) return bert(o) end,
  __index = { sizes = sizes },
})
