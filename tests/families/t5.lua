-- Tiny T5 (models/t5.lua) trained as T5 is: span corruption (noise density 0.15, mean span 3),
-- on characters with <pad>, </s> and 8 sentinels <extra_id_N> (vocabulary 65 + 10).
local t5 = include "../../models/t5.lua"
local common = include "common.lua"

local train = common.train(span_corruption {})
train.batch = 16  -- enough (54% at 16 rows, 55% at 64); a quarter of the cost

return {
  seed = 1,
  model = t5 { size = "tiny", vocab = 75, seq_len = common.seq_len, dropout = 0 },
  data = common.data({ "<pad>", "</s>" }, 8, "</s>"),
  train = train,
}
