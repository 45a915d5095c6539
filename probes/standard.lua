-- Probes for the character-level Shakespeare models (models/gpt2-char.lua):
--   kiln probe runs/a probes/standard.lua
-- Each probe writes its JSON and SVG figures into RUN/probes/<name>/.
return {
  -- Each layer's residual stream read through the final norm and the head: where does the
  -- model settle on the "e" of "Romeo"?
  logit_lens { prompt = "JULIET:\nO Romeo, Romeo! wherefore art thou Rom", target = "e", top_k = 5 },
  -- Which earlier characters each head reads, per layer.
  attention_patterns { prompt = "ROMEO:\nIs the day so young?\nROMEO:\nIs" },
  -- Induction: the clean prompt repeats a name, so its last "Ro" continues as before ("m"); the
  -- corrupted one named someone else first ("s"). The heads and positions whose clean
  -- activations restore "m" over "s" carry the copy.
  activation_patching {
    clean     = { "JULIET:\nRomeo!\nJULIET:\nRo" },
    corrupted = { "JULIET:\nRosen!\nJULIET:\nRo" },
    answer    = { "m" },
    wrong     = { "s" },
  },
  -- Every head and MLP mean-ablated in turn: the change in loss on a passage.
  ablation {
    texts = { "First Citizen:\nBefore we proceed any further, hear me speak.\n" },
    kind = "mean",
  },
}
