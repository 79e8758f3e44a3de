#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, builds, generates the
# test certificates (a CTest fixture) and runs unit, store, catalog and
# integration tests with CTest, then fuzzes every libFuzzer target briefly.
# Usage: tests/run-all.sh [extra ctest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/bootstrap.sh"
tongban_install_packages
tongban_build

# A brief fuzzing run (docs/architecture.md, "Fuzzing"): every libFuzzer target
# for TONGBAN_FUZZ_SECONDS s (default 5) in its own clang build, build-fuzz/;
# TONGBAN_FUZZ_SECONDS=0 skips it. (ctest below already replays every corpus
# file.) The clang build runs beside ctest at the lowest CPU priority (nice
# 19): it only takes the CPU the tests leave idle while they wait on processes
# they started, so it neither slows the tests nor waits for them to finish.
fuzz_seconds=${TONGBAN_FUZZ_SECONDS:-5}
fuzz_log="$TONGBAN_BUILD/fuzz-build.log"
fuzz_pid=
if [ "$fuzz_seconds" != 0 ]; then
  echo "==> building the fuzz targets beside the tests (nice 19; log: $fuzz_log)"
  # Job control (set -m) gives it a process group of its own, so a failed or
  # interrupted test run stops the compilers too, not just the script. Not
  # setsid: a new session is a new scheduler autogroup, which gets an equal
  # share of the CPU whatever its nice value.
  set -m
  TONGBAN_FUZZ_NO_INSTALL=1 TONGBAN_FUZZ_BUILD_ONLY=1 \
    nice -n 19 "$TONGBAN_ROOT/tests/fuzz/run-fuzzers.sh" >"$fuzz_log" 2>&1 &
  fuzz_pid=$!
  set +m
  trap '[ -n "$fuzz_pid" ] && kill -- -"$fuzz_pid" 2>/dev/null; true' EXIT
fi

echo "==> running tests"
cd "$TONGBAN_BUILD"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600 "$@"

if [ -n "$fuzz_pid" ]; then
  echo "==> waiting for the fuzz build"
  if ! wait "$fuzz_pid"; then
    fuzz_pid=
    echo "!!! the fuzz build failed; its log ends:" >&2
    tail -n 60 "$fuzz_log" >&2
    exit 1
  fi
  fuzz_pid=
  grep '^==> fuzz build took' "$fuzz_log" || true
  # The build is up to date now: this only fuzzes.
  TONGBAN_FUZZ_NO_INSTALL=1 "$TONGBAN_ROOT/tests/fuzz/run-fuzzers.sh" "$fuzz_seconds"
fi
