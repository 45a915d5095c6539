#!/usr/bin/env bash
# Set up, build, and run kiln's main job: train models/gpt2-char.lua (nanoGPT's
# shakespeare-char configuration) on tiny Shakespeare for a few minutes, measure its val
# perplexity, and print a sample.
#
# The text comes from $KILN_DATA, else ../shared/data/tinyshakespeare/input.txt, else the
# Debian `fortunes` corpus (installed here when needed). Environment: KILN_STEPS (default: the
# spec's 2000), KILN_NUM_THREADS (default: every core), KILN_RUN (the run directory, default
# runs/gpt2-char-<date>). Arguments are passed to `kiln train` (e.g. --set train.batch=8).
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/scripts/setup.sh" "$root/build"
cd "$root"
kiln="$root/build/bin/kiln"

# The fortunes corpus as one text: the fortunes of every file, one blank line between them,
# ASCII only (a few files hold Latin-1 and UTF-8 accents).
fortunes_corpus() {
  local out="$root/build/fortunes.txt"
  if ! dpkg-query -W -f='${Status}' fortunes 2>/dev/null | grep -q "install ok installed"; then
    echo "run.sh: no tiny Shakespeare here; installing the Debian fortunes corpus" >&2
    local sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends fortunes >&2
  fi
  find /usr/share/games/fortunes -maxdepth 1 -type f ! -name '*.dat' ! -name '*.u8' -print0 | sort -z |
    xargs -0 cat | LC_ALL=C tr -cd '\11\12\40-\176' | sed 's/^%$//' >"$out"
  echo "$out"
}

if [ -n "${KILN_DATA:-}" ]; then
  data=$KILN_DATA
elif [ -f "$root/../shared/data/tinyshakespeare/input.txt" ]; then
  data="$root/../shared/data/tinyshakespeare/input.txt"
else
  data=$(fortunes_corpus)
fi
export KILN_DATA=$data

# gpt2-char's vocabulary is tiny Shakespeare's 65 characters; another text may need more.
args=()
chars=$( (LC_ALL=C.UTF-8 grep -o . "$data" | LC_ALL=C sort -u | wc -l) 2>/dev/null || echo 0)
chars=$((chars + 1))  # the newline, which grep -o . does not print
if [ "$chars" -gt 65 ]; then args+=(--set "model.vocab=$chars"); fi
if [ -n "${KILN_STEPS:-}" ]; then args+=(--set "train.steps=$KILN_STEPS"); fi
run=${KILN_RUN:-runs/gpt2-char-$(date +%Y%m%d-%H%M%S)}

echo "== kiln main job: models/gpt2-char.lua on $data"
"$kiln" train models/gpt2-char.lua --out "$run" "${args[@]}" "$@"
echo
echo "== val perplexity ($run/results.json)"
"$kiln" eval "$run" --suite eval/suites/standard.lua --no-progress
echo
echo "== a sample (kiln generate $run --prompt \"ROMEO:\" --max-tokens 300 --temperature 0.8 --top-k 200)"
"$kiln" generate "$run" --prompt "ROMEO:" --max-tokens 300 --temperature 0.8 --top-k 200 --seed 1
