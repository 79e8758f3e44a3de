#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, builds, generates the
# test certificates (a CTest fixture) and runs unit, store, catalog and
# integration tests with CTest, then fuzzes every libFuzzer target briefly.
# Usage: tests/run-all.sh [extra ctest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/bootstrap.sh"
tongban_install_packages
tongban_build
echo "==> running tests"
cd "$TONGBAN_BUILD"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600 "$@"
# A brief fuzzing run (docs/architecture.md, "Fuzzing"): every libFuzzer target
# for TONGBAN_FUZZ_SECONDS s (default 10) in its own clang build, build-fuzz/;
# TONGBAN_FUZZ_SECONDS=0 skips it. (ctest above already replayed every corpus file.)
if [ "${TONGBAN_FUZZ_SECONDS:-10}" != 0 ]; then
  TONGBAN_FUZZ_NO_INSTALL=1 "$TONGBAN_ROOT/tests/fuzz/run-fuzzers.sh" "${TONGBAN_FUZZ_SECONDS:-10}"
fi
