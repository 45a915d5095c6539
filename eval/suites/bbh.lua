-- BIG-Bench Hard alone:  kiln eval RUN --suite eval/suites/bbh.lua
-- The 27 tasks, 3-shot chain of thought (the BBH repository's cot-prompts), greedy generation
-- until "\n\nQ:" or 256 tokens, exact match; strict and flexible extraction both reported.
-- KILN_BBH points at the BBH files (tasks/ and cot-prompts/). The run's tokenizer must write
-- every character of the prompts (digits, brackets); a char tokenizer fitted on Shakespeare
-- needs --set data.tokenizer.unknown=replace. Also in standard.lua.
return {
  bbh { path = env("KILN_BBH", "../shared/data/bbh"), mode = "cot" },
}
