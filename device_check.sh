#!/bin/bash
# One-shot device check (not committed): CPU flags, build, matmul tests, bench_core.
set -u
exec > >(tee "$OUT/log.txt") 2>&1
lscpu | grep -E "Model name|^CPU\(s\)"
grep -o -w -E 'avx2|avx512f|avx512_bf16|amx_bf16|avx512_fp16|avx512_vnni' /proc/cpuinfo | sort | uniq -c
which cmake ninja g++ || exit 1
ls /usr/include/oneapi/dnnl/dnnl.hpp /usr/lib/x86_64-linux-gnu/libdnnl.so* || exit 1
t0=$(date +%s)
cmake -S . -B build-dev -G Ninja -DCMAKE_BUILD_TYPE=Release -DKILN_CUDA=OFF > "$OUT/cmake.txt" 2>&1 || { tail -20 "$OUT/cmake.txt"; exit 1; }
ninja -C build-dev -j16 kiln_core_tests bench_core > "$OUT/build.txt" 2>&1 || { grep -A5 error "$OUT/build.txt" | head -40; exit 1; }
echo "build: $(( $(date +%s) - t0 )) s"
./build-dev/bin/kiln_core_tests 2>&1 | tail -3
ONEDNN_VERBOSE=1 ./build-dev/bin/kiln_core_tests --gtest_filter='Matmul.Bf16MatchesF32WithinRounding' 2>&1 | grep -E "exec,cpu,matmul" | head -3
timeout 300 ./build-dev/bin/bench_core --json --threads 2 | tee "$OUT/bench2.txt"
echo "total: $(( $(date +%s) - t0 )) s"
