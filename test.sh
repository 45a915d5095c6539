#!/usr/bin/env bash
# Set up, build, and run every test. Exits non-zero on any failure.
#   ./test.sh                 all tests
#   ./test.sh -R attention    extra arguments go to ctest
# KILN_TEST_SANITIZE=1 also builds the core tests with AddressSanitizer and UBSan in
# build-sanitize/ and runs them (label "core"); CI sets it (.ci/run).
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/scripts/setup.sh" "$root/build"
# ctest runs nproc tests at once, each with an OpenMP team of nproc threads: with the default
# wait policy idle threads spin at barriers and steal the cores the other tests need (a small
# gradcheck took 42 s beside other work; 2 s with passive waits). Tests keep their threads, so
# the parallel paths stay tested.
export OMP_WAIT_POLICY="${OMP_WAIT_POLICY:-passive}"
cd "$root/build"
ctest --output-on-failure -j "${KILN_TEST_JOBS:-$(nproc)}" "$@"
if [ "${KILN_TEST_SANITIZE:-0}" = 1 ]; then
  # -O1, the sanitizers' usual level: on 2 cores the build takes 5.7 minutes instead of 8 at -O3,
  # and the tests run as fast.
  KILN_BUILD_TARGETS=kiln_core_tests \
    "$root/scripts/setup.sh" "$root/build-sanitize" -DKILN_SANITIZE="address;undefined" -DKILN_CUDA=OFF \
    -DCMAKE_CXX_FLAGS_RELEASE=-O1
  cd "$root/build-sanitize"
  ctest --output-on-failure -L core -j "${KILN_TEST_JOBS:-$(nproc)}"
fi
