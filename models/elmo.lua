-- ELMo's bidirectional language model (Peters et al. 2018): a forward and a backward stack of
-- two LSTM layers, each of 4096 cells projected to 512 (LSTMP), cells and projections clipped at
-- 3, a residual connection around the second layer, dropout 0.1, and one softmax shared by both
-- directions. ELMo reads tokens through a character CNN; here they are looked up in a table of
-- d_model = 512 (the width ELMo's CNN projects to) that the softmax reuses.
--
-- As a spec of its own this file is ELMo's biLM over a vocabulary of 32000: 92,012,544
-- parameters, 75,628,544 of them in the LSTMs (ELMo's 793,471-word softmax would add 406M).
-- Included, it is a function that makes a model:
--
--   local elmo = include "models/elmo.lua"
--   model = elmo { size = "tiny", vocab = 65, dropout = 0 }
--
-- Options: size ("tiny", "small", "base"), vocab (32000), d_model, d_hidden, n_layers, seq_len or
-- context (1024), dropout (0.1), tie_embeddings (true).

local sizes = {
  tiny  = { n_layers = 2, d_model = 64,  d_hidden = 128 },
  small = { n_layers = 2, d_model = 128, d_hidden = 1024 },  -- ELMo "small" biLSTMs
  base  = { n_layers = 2, d_model = 512, d_hidden = 4096 },  -- ELMo "original"
}

local read_options = include "lib/options.lua"
local presets = { sizes = sizes, default = "base", names = "tiny, small or base" }

local options = { size = true, vocab = true, d_model = true, d_hidden = true, n_layers = true,
                  seq_len = true, context = true, dropout = true, tie_embeddings = true }

local function elmo(o)
  local pick, size
  o, pick, size = read_options("elmo", o, options, presets)
  return model.bilm {  -- `bilm` alone also names the objective
    vocab = pick("vocab", 32000),
    d_model = pick("d_model", size.d_model),
    d_hidden = pick("d_hidden", size.d_hidden),
    n_layers = pick("n_layers", size.n_layers),
    context = o.context or o.seq_len or 1024,
    layer = lstm { cell_clip = 3.0, proj_clip = 3.0 },
    residual = true,
    dropout = pick("dropout", 0.1),
    tie_embeddings = pick("tie_embeddings", true),
    init_std = 0.02,
  }
end

return setmetatable({ model = elmo { size = "base" } }, {
  __call = function(_, o) return elmo(o) end,
  __index = { sizes = sizes },
})
