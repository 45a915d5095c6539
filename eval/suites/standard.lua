-- The standard evaluation suite:  kiln eval RUN --suite eval/suites/standard.lua [--limit 20]
-- A suite returns a list of evaluators; each writes its numbers under its name in
-- RUN/results.json. KILN_MMLU and KILN_BBH point at the data sets (paths relative to the
-- working directory; the defaults suit the repository's root beside shared/data).
--
-- A character-level tokenizer fitted on Shakespeare (models/gpt2-char.lua) cannot write MMLU's
-- or BBH's digits and brackets: evaluate such a run with
--   kiln eval RUN --suite eval/suites/standard.lua --set data.tokenizer.unknown=replace
-- (each missing character written as '?'; "skip" drops them).
return {
  -- The run's val split: token perplexity, bits per byte and word perplexity, scored in
  -- lm-evaluation-harness's rolling windows of the model's context, each document's first
  -- token conditioned on EOS when the tokenizer has one.
  perplexity {},
  -- MMLU 5-shot (eval/suites/mmlu.lua): the 57 subjects of the test split, the original
  -- prompt, scored by the log-likelihood of " A" .. " D".
  mmlu { path = env("KILN_MMLU", "../shared/data/mmlu"), shots = 5 },
  -- BIG-Bench Hard (eval/suites/bbh.lua): the 27 tasks, 3-shot chain of thought, greedy
  -- generation until "\n\nQ:", exact match.
  bbh { path = env("KILN_BBH", "../shared/data/bbh"), mode = "cot" },
}
