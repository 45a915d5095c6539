#!/usr/bin/env bash
# Builds examples/plugin out of tree against a temporary install of this build, loads it
# through a spec's `plugins` list, and uses its layer and schedule.
#   tests/plugin_out_of_tree.sh BUILD_DIR SOURCE_DIR
set -euo pipefail
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
"$kiln" plugins describe squared_relu --plugin "$plugin" | grep -q "layer.squared_relu  (plugin example_plugin 1.0.0)"
"$kiln" plugins list --plugin "$plugin" | grep -q "schedule   inverse_sqrt"

# Through a spec's plugins list.
cat > "$tmp/spec.lua" <<LUA
return {
  plugins = { "$plugin" },
  data = squared_relu {},
  train = { optimizer = adamw {}, schedule = inverse_sqrt { warmup = 10 } },
}
LUA
"$kiln" spec check "$tmp/spec.lua"
"$kiln" spec dump "$tmp/spec.lua" | grep -q '"@component": "schedule.inverse_sqrt"'
# Out-of-range values are caught by the plugin's schema.
if "$kiln" spec check "$tmp/spec.lua" --set train.schedule.warmup=0 2>"$tmp/err"; then
  echo "expected warmup=0 to be refused" >&2
  exit 1
fi
grep -q "train.schedule.warmup: expected integer >= 1, got 0" "$tmp/err"
echo "out-of-tree plugin: ok"
