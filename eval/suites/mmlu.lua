-- MMLU alone:  kiln eval RUN --suite eval/suites/mmlu.lua
-- 5-shot on the 57 subjects of the test split, the original (hendrycks/test) prompt, scored by
-- the log-likelihood of " A" .. " D". The data is MMLU's original CSV release (dev/ and test/
-- folders); KILN_MMLU points at it. The run's tokenizer must write every character of the
-- questions (a char tokenizer fitted on Shakespeare needs --set data.tokenizer.unknown=replace).
-- Also in standard.lua.
return {
  mmlu { path = env("KILN_MMLU", "../shared/data/mmlu"), shots = 5 },
}
