-- ALBERT (Lan et al. 2020): BERT with a factorised embedding (vocabulary rows of d_embed = 128
-- projected to d_model), one block shared by every layer (n_groups = 1), GELU (tanh
-- approximation) in the MLP and the MLM head, no dropout (v2), and the sentence-order
-- prediction head (SOP: the pooler and a 2-way classifier).
--
-- As a spec of its own this file is ALBERT-base with its SentencePiece vocabulary of 30000:
-- 11,813,810 parameters, as Hugging Face's AlbertForPreTraining (11,683,584 in AlbertModel).
-- Included, it is a function that makes a model:
--
--   local albert = include "models/albert.lua"
--   model = albert { size = "large" }
--   model = albert { size = "tiny", vocab = 2000 }
--
-- Every size keeps ALBERT's E = 128; at the tiny preset's H = 128 that leaves nothing to project
-- (ALBERT's code projects only when E differs from H), so a test of the factorisation sets
-- d_embed below d_model.
--
-- Options: size ("tiny", "base", "large", "xlarge"), vocab (30000), d_model, d_embed (128),
-- n_layers, n_heads, d_mlp (4 d_model), n_groups (1), seq_len or context (512), dropout (0),
-- sop (true).

local sizes = {
  tiny   = { n_layers = 4,  d_model = 128,  n_heads = 2,  d_embed = 128 },  -- E = H: no projection
  base   = { n_layers = 12, d_model = 768,  n_heads = 12, d_embed = 128 },  -- 12M
  large  = { n_layers = 24, d_model = 1024, n_heads = 16, d_embed = 128 },  -- 18M
  xlarge = { n_layers = 24, d_model = 2048, n_heads = 16, d_embed = 128 },  -- 60M
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, base, large or xlarge" }

local options = { size = true, vocab = true, d_model = true, d_embed = true, n_layers = true,
                  n_heads = true, d_mlp = true, n_groups = true, seq_len = true, context = true,
                  dropout = true, sop = true }

local function albert(o)
  local pick, size
  o, pick, size = read_options("albert", o, options, presets)
  return encoder {
    vocab = pick("vocab", 30000),
    d_model = pick("d_model", size.d_model),
    d_embed = pick("d_embed", size.d_embed),
    n_layers = pick("n_layers", size.n_layers),
    n_heads = pick("n_heads", size.n_heads),
    d_mlp = o.d_mlp,
    n_groups = pick("n_groups", 1),
    context = o.context or o.seq_len or 512,
    n_types = 2,
    activation = "gelu_tanh",
    bias = true,
    dropout = pick("dropout", 0.0),
    norm = layer_norm { eps = 1e-12 },
    norm_position = "post",
    pos = learned {},
    embed_norm = true,
    mlm_head = true,
    mlm_activation = "gelu_tanh",
    tie_embeddings = true,
    sentence_head = pick("sop", true) and 2 or 0,
    init_std = 0.02,
  }
end

return setmetatable({ model = albert { size = "base" } }, {
  __call = function(_, o) return albert(o) end,
  __index = { sizes = sizes },
})
