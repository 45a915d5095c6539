-- Tiny ALBERT (models/albert.lua: factorised embedding, one block shared by its 4 layers)
-- pre-trained as ALBERT is: MLM plus sentence-order prediction, on characters with [PAD],
-- [MASK], [CLS] and [SEP] (vocabulary 65 + 4).
local albert = include "../../models/albert.lua"
local common = include "common.lua"

return {
  seed = 1,
  model = albert { size = "tiny", vocab = 69, seq_len = common.seq_len },
  data = common.data { "[PAD]", "[MASK]", "[CLS]", "[SEP]" },
  train = common.train(sop {}),
}
