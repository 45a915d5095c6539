#!/usr/bin/env bash
# The GPU check, in two halves, for a device machine that has the CUDA driver and runtime but
# not kiln's build dependencies:
#
#   bench/gpu.sh pack BUILD_DIR OUT_DIR   here: copy the sm_90 test and bench binaries, libkiln_core
#                                         and the system libraries they need into OUT_DIR
#   bench/gpu.sh run OUT_DIR              there: check every CUDA kernel against the CPU
#                                         (kiln_core_tests, Cuda.*), then print bench_cuda's timings
#
# Measured on an H200 (2026-11-28): all Cuda.* tests pass; matmul 790 TFLOP/s bf16 and 51 f32 at
# 8192^3; add 2.6 TB/s, softmax 3.5 TB/s, gelu 1.6 TB/s on 256 MiB operands.
#
# BUILD_DIR must be configured with KILN_CUDA=ON (CMAKE_CUDA_ARCHITECTURES defaults to 90).
set -euo pipefail
mode=${1:?usage: bench/gpu.sh pack BUILD_DIR OUT_DIR | run OUT_DIR}

if [ "$mode" = pack ]; then
  build=$2 out=$3
  rm -rf "$out" && mkdir -p "$out/bin" "$out/lib" "$out/syslib"
  cp "$build/bin/kiln_core_tests" "$build/bin/bench_cuda" "$out/bin/"
  cp "$build/lib/libkiln_core.so" "$out/lib/"
  strip --strip-unneeded "$out/bin/"* "$out/lib/libkiln_core.so"
  for lib in libdnnl.so.2 libOpenCL.so.1 libgomp.so.1; do
    cp -L "/usr/lib/x86_64-linux-gnu/$lib" "$out/syslib/"
  done
  du -sh "$out"
  exit 0
fi

dir=$2
cuda_libs=$( (ls -d /usr/local/cuda/lib64 /usr/local/cuda/lib 2>/dev/null || true) | tr '\n' ':')
# PyTorch's pip wheels carry the CUDA runtime and cuBLAS when the system has none.
py_libs=$(python3 -c 'import glob, os, nvidia; print(":".join(sorted(glob.glob(os.path.join(os.path.dirname(nvidia.__path__[0]), "nvidia", "*", "lib")))))' 2>/dev/null || true)
export LD_LIBRARY_PATH="$dir/lib:$dir/syslib:$cuda_libs$py_libs:${LD_LIBRARY_PATH:-}"
nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader || true
"$dir/bin/kiln_core_tests" --gtest_filter='Cuda.*' --gtest_color=no
"$dir/bin/bench_cuda" --json
