-- A small ELMo-style biLM (models/elmo.lua: forward and backward LSTM stacks, one softmax)
-- trained with the biLM objective on characters (vocabulary 65).
local elmo = include "../../models/elmo.lua"
local common = include "common.lua"

return {
  seed = 1,
  model = elmo { size = "tiny", vocab = 65, seq_len = common.seq_len, dropout = 0 },
  data = common.data(),
  train = common.train(objective.bilm {}),  -- `bilm` alone names the model too
}
