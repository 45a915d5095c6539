#!/usr/bin/env bash
# Shared set-up for ./run.sh and ./test.sh: install the Debian packages kiln needs (only the
# missing ones, non-interactively), then configure and build with CMake + Ninja.
#
#   scripts/setup.sh [BUILD_DIR] [extra cmake args...]
#
# Environment: KILN_BUILD_TYPE (default Release), KILN_JOBS (default: all cores),
# KILN_BUILD_TARGETS (default: everything).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build=${1:-"$root/build"}
shift || true

packages=(
  g++ cmake ninja-build pkg-config
  libdnnl-dev            # oneDNN 2.6: CPU GEMM (f32, bf16)
  liblua5.4-dev          # the spec DSL
  libboost-dev libboost-program-options-dev   # Boost.DLL plugins, the CLI
  rapidjson-dev          # JSON: safetensors headers, metrics, specs
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenmpi-dev openmpi-bin                  # data parallel on CPU
  python3                # test scripts (tests/*.sh check JSON with it)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "kiln setup: installing missing Debian packages: ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null || { echo "kiln setup: need root or sudo to install ${missing[*]}" >&2; exit 1; }
    sudo="sudo"
  fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq || echo "kiln setup: apt-get update failed; trying the install anyway" >&2
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# nvcc is often installed outside PATH.
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  export PATH="/usr/local/cuda/bin:$PATH"
fi

jobs=${KILN_JOBS:-$(nproc)}
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE="${KILN_BUILD_TYPE:-Release}" "$@" >/dev/null
# shellcheck disable=SC2086  # the targets are a space-separated list
cmake --build "$build" -j "$jobs" ${KILN_BUILD_TARGETS:+--target $KILN_BUILD_TARGETS}
