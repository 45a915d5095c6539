#!/usr/bin/env bash
# Builds examples/plugin out of tree against a temporary install of this build, loads it
# through a spec's `plugins` list, and uses its layer and schedule.
#   tests/plugin_out_of_tree.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
# (grep, not grep -q, after a pipe: -q exits at the first match and the writer's SIGPIPE would
# fail the pipeline under pipefail once the output outgrows the pipe buffer.)
build=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cmake --install "$build" --prefix "$tmp/install" >/dev/null
cmake -S "$src/examples/plugin" -B "$tmp/plugin" -G Ninja -DCMAKE_BUILD_TYPE=Release \
      -DCMAKE_PREFIX_PATH="$tmp/install" >/dev/null
cmake --build "$tmp/plugin" >/dev/null
plugin="$tmp/plugin/example_plugin.so"
test -f "$plugin"
kiln="$tmp/install/bin/kiln"

# The installed kiln finds its own plugins, and this one through --plugin.
"$kiln" plugins describe squared_relu --plugin "$plugin" | grep "layer.squared_relu  (plugin example_plugin 1.0.0)" >/dev/null
"$kiln" plugins list --plugin "$plugin" | grep "schedule   inverse_sqrt" >/dev/null

# Through a spec's plugins list: a decoder whose MLP activation is the plugin's layer, trained
# with its schedule.
for i in $(seq 1 200); do echo "the quick brown fox jumps over the lazy dog $i"; done > "$tmp/corpus.txt"
cat > "$tmp/run.lua" <<LUA
return {
  plugins = { "$plugin" },
  model = decoder { vocab = 257, d_model = 16, n_layers = 2, n_heads = 2, context = 32,
                    activation = squared_relu {} },
  data = text { path = "$tmp/corpus.txt", tokenizer = byte { special_tokens = { "<|endoftext|>" } } },
  train = { optimizer = adamw { lr = 1e-2 }, schedule = inverse_sqrt { warmup = 2 },
            batch = 4, seq_len = 32, steps = 8, log_every = 1, eval_batches = 1 },
}
LUA
"$kiln" spec check "$tmp/run.lua"
"$kiln" spec dump "$tmp/run.lua" | grep '"@component": "schedule.inverse_sqrt"' >/dev/null
# Out-of-range values are caught by the plugin's schema.
if "$kiln" spec check "$tmp/run.lua" --set train.schedule.warmup=0 2>"$tmp/err"; then
  echo "expected warmup=0 to be refused" >&2
  exit 1
fi
grep -q "train.schedule.warmup: expected integer >= 1, got 0" "$tmp/err"

KILN_NUM_THREADS=1 KILN_GEMM_CEILING_GFLOPS=100 "$kiln" train "$tmp/run.lua" --out "$tmp/run" >"$tmp/train.log" 2>&1 ||
  { cat "$tmp/train.log" >&2; exit 1; }
"$kiln" spec dump "$tmp/run/spec.json" | grep '"@component": "layer.squared_relu"' >/dev/null
# The plugin's schedule set the rate: 1e-2 * sqrt(2 / 8) at the last step.
python3 - "$tmp/run/metrics.jsonl" <<'PY'
import json, math, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if '"lr"' in l]
lr = {r["step"]: r["lr"] for r in rows}
assert len(lr) == 8, lr
for step, value in lr.items():
    t = step  # the rate of update number `step` (1-based)
    want = 1e-2 * (t / 2 if t <= 2 else math.sqrt(2 / t))
    assert abs(value - want) < 1e-9 * want, (step, value, want)
losses = [r["loss"] for r in rows]
assert all(math.isfinite(x) for x in losses) and losses[-1] < losses[0], losses
PY
echo "out-of-tree plugin: ok"
