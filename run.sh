#!/usr/bin/env bash
# Set up, build, and run kiln's main job. Until the decoder models land, the main job is a
# demonstration: a two-layer MLP fitted to a synthetic regression with AdamW, printing its
# falling loss.
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/scripts/setup.sh" "$root/build"
exec "$root/build/bin/kiln_demo_mlp" "$@"
