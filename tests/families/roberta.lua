-- Tiny RoBERTa (models/roberta.lua) pre-trained as RoBERTa is: MLM alone with dynamic masking,
-- on characters with <pad> and <mask> (vocabulary 65 + 2).
local roberta = include "../../models/roberta.lua"
local common = include "common.lua"

return {
  seed = 1,
  model = roberta { size = "tiny", vocab = 67, seq_len = common.seq_len, dropout = 0 },
  data = common.data { "<pad>", "<mask>" },
  train = common.train(mlm { masking = "dynamic" }),
}
