-- What the family training tests (test_family_training.cpp) share: tiny Shakespeare read
-- character by character (its 65 distinct characters, then the special tokens each family
-- needs), and a short run: AdamW at 1e-3 with 20 warmup steps then constant, batches of 64 rows
-- of 16 tokens, no evaluation. The test sets data.path to the shared data.
--
-- Why these settings: a masked position's own input says nothing, so an encoder must first learn
-- to attend to its neighbours through learned absolute positions; short rows leave few positions
-- to learn and many rows give many masked tokens a step. The post-norm families (BERT, RoBERTa,
-- ALBERT, ELECTRA, BART) also fall into a collapse at higher rates: the MLP biases grow a constant
-- direction that makes every output the unigram distribution, and the LayerNorm after it then
-- divides the token-specific part by that constant's size (a post-norm 2-layer GPT of this size,
-- tests/families/gpt2post.lua, sits on the unigram plateau at 2e-3 as BERT does, and a PyTorch
-- replay from the same initial weights and batches reproduces kiln's losses to 1e-5, so this is
-- the optimisation, not a kernel). 1e-3 held constant gets out of it; 2e-3 and above, or a
-- cosine decay, stayed on the plateau or left it late.
local common = {}

common.seq_len = 16
common.batch = 64

-- The text split 90/10 (the test measures held-out accuracy on the last tenth).
function common.data(specials, sentinels, eos)
  return text {
    path = env("KILN_DATA", "../../../shared/data/tinyshakespeare/input.txt"),
    tokenizer = char { special_tokens = specials or {}, sentinels = sentinels or 0, eos = eos },
    split = { val = 0.1 },
  }
end

function common.train(objective)
  return {
    objective = objective,
    optimizer = adamw { lr = 1e-3, betas = { 0.9, 0.99 }, weight_decay = 0.01 },
    schedule = warmup { warmup = 20 },
    batch = common.batch,
    seq_len = common.seq_len,
    steps = 300,
    grad_clip = 1.0,
    eval_batches = 0,
  }
end

return common
