-- The tiny ELMo-style biLM (models/elmo.lua: forward and backward stacks of two LSTM layers, one
-- softmax) trained with the biLM objective on characters (vocabulary 65). The LSTM runs one op
-- per time step, so its rows are 32 characters (8 of them a batch, at 5e-3) to keep the test cheap.
local elmo = include "../../models/elmo.lua"
local common = include "common.lua"

local train = common.train(objective.bilm {})  -- `bilm` alone names the model too
train.seq_len = 32
train.batch = 8
train.optimizer.lr = 5e-3

return {
  seed = 1,
  model = elmo { size = "tiny", vocab = 65, seq_len = 32, dropout = 0 },
  data = common.data(),
  train = train,
}
