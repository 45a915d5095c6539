-- Tiny ELECTRA (models/electra.lua: a generator a quarter of the discriminator's width, the
-- embeddings shared) trained with replaced-token detection (generator MLM + 50 x the
-- discriminator's loss), on characters with [PAD] and [MASK] (vocabulary 65 + 2).
local electra = include "../../models/electra.lua"
local common = include "common.lua"

return {
  seed = 1,
  model = electra { size = "tiny", vocab = 67, seq_len = common.seq_len, dropout = 0 },
  data = common.data { "[PAD]", "[MASK]" },
  train = common.train(rtd {}),
}
