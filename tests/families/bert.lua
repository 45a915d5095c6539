-- Tiny BERT (models/bert.lua) pre-trained as BERT is: MLM with static masking plus next-sentence
-- prediction, on characters with [PAD], [MASK], [CLS] and [SEP] (vocabulary 65 + 4).
local bert = include "../../models/bert.lua"
local common = include "common.lua"

local train = common.train(nsp { masking = "static" })
-- More masked tokens a step: with 64 rows the drop was near 30% (the NSP half stays near ln 2).
train.batch = 96

return {
  seed = 1,
  model = bert { size = "tiny", vocab = 69, seq_len = common.seq_len, dropout = 0 },
  data = common.data { "[PAD]", "[MASK]", "[CLS]", "[SEP]" },
  train = train,
}
