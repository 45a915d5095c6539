-- AGIEval alone:  kiln eval RUN --suite eval/suites/agieval.lua
-- The 10 English tasks of AGIEval v1, zero-shot (AGIEval's own prompt, as
-- lm-evaluation-harness's agieval tasks): multiple choice by the log-likelihood of each option,
-- math by greedy generation and normalised exact match. KILN_AGIEVAL points at the data (v1/
-- and few_shot_prompts.csv). Not in standard.lua for the same reason as MMLU and BBH: the run's
-- tokenizer must be able to write every character of the questions.
return {
  agieval { path = env("KILN_AGIEVAL", "../shared/data/agieval"), shots = 0 },
}
