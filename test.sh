#!/usr/bin/env bash
# Set up, build, and run every test. Exits non-zero on any failure.
#   ./test.sh                 all tests
#   ./test.sh -R attention    extra arguments go to ctest
# KILN_TEST_SANITIZE=1 also builds the core tests with AddressSanitizer and UBSan in
# build-sanitize/ and runs them (label "core"); CI sets it (.ci/run).
set -euo pipefail
root=$(cd "$(dirname "$0")" && pwd)
"$root/scripts/setup.sh" "$root/build"
cd "$root/build"
ctest --output-on-failure -j "${KILN_TEST_JOBS:-$(nproc)}" "$@"
if [ "${KILN_TEST_SANITIZE:-0}" = 1 ]; then
  KILN_BUILD_TARGETS=kiln_core_tests \
    "$root/scripts/setup.sh" "$root/build-sanitize" -DKILN_SANITIZE="address;undefined" -DKILN_CUDA=OFF
  cd "$root/build-sanitize"
  ctest --output-on-failure -L core -j "${KILN_TEST_JOBS:-$(nproc)}"
fi
