-- The standard evaluation suite:  kiln eval RUN --suite eval/suites/standard.lua
-- A suite returns a list of evaluators; each writes its numbers under its name in
-- RUN/results.json. (BBH chain of thought and AGIEval join it with their evaluators. MMLU
-- 5-shot is in eval/suites/mmlu.lua until the run's tokenizer can always write its questions:
-- the char tokenizer of models/gpt2-char.lua refuses characters Shakespeare lacks.)
return {
  -- The run's val split: token perplexity, bits per byte and word perplexity, scored in
  -- lm-evaluation-harness's rolling windows of the model's context, each document's first
  -- token conditioned on EOS when the tokenizer has one.
  perplexity {},
}
