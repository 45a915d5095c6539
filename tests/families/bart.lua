-- Tiny BART (models/bart.lua) trained as BART is: denoising (sentence permutation and text
-- infilling), on characters with <s>, <pad>, </s> and <mask> (vocabulary 65 + 4).
local bart = include "../../models/bart.lua"
local common = include "common.lua"

local train = common.train(denoising {})
train.batch = 32  -- enough (the decoder learns the bigrams under teacher forcing); half the cost

return {
  seed = 1,
  model = bart { size = "tiny", vocab = 69, seq_len = common.seq_len, dropout = 0 },
  data = common.data { "<s>", "<pad>", "</s>", "<mask>" },
  train = train,
}
