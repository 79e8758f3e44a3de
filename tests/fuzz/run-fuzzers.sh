#!/usr/bin/env bash
# Builds the libFuzzer targets (clang-14, -fsanitize=fuzzer,address,undefined)
# in build-fuzz/ and runs each one for a bounded time on a scratch copy of its
# seed corpus (tests/fuzz/corpus/<target>/). Crashes, leaks, timeouts and
# out-of-memory inputs are saved under the crash directory; the script exits
# non-zero when any target found one. See docs/architecture.md, "Fuzzing".
#
# Usage: tests/fuzz/run-fuzzers.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 60 (tests/run-all.sh runs 5)
#   TARGET              citizen_token rest_binder id_parsers node_requests
#                       federation_delivery (default: all)
# Environment:
#   TONGBAN_FUZZ_BUILD     build directory (default <repo>/build-fuzz)
#   TONGBAN_FUZZ_CRASHES   where findings go (default $TONGBAN_FUZZ_BUILD/crashes)
#   TONGBAN_FUZZ_KEEP      directory to keep the grown corpora in (default: discarded)
#   TONGBAN_FUZZ_JOBS      build parallelism (default nproc)
#   TONGBAN_FUZZ_NO_INSTALL=1  do not install missing Debian packages
#   TONGBAN_FUZZ_BUILD_ONLY=1  build the targets and stop (tests/run-all.sh
#                          builds them beside ctest, then fuzzes)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
SECONDS_PER_TARGET=${1:-60}
shift || true
ALL_TARGETS=(citizen_token rest_binder id_parsers node_requests federation_delivery)
TARGETS=("$@")
[ ${#TARGETS[@]} -eq 0 ] && TARGETS=("${ALL_TARGETS[@]}")
BUILD=${TONGBAN_FUZZ_BUILD:-$ROOT/build-fuzz}
CRASHES=${TONGBAN_FUZZ_CRASHES:-$BUILD/crashes}
JOBS=${TONGBAN_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}

if [ "${TONGBAN_FUZZ_NO_INSTALL:-0}" != 1 ]; then
  # shellcheck source=../../common/bootstrap.sh
  source "$ROOT/common/bootstrap.sh"
  tongban_install_packages
fi

echo "==> building fuzz targets in $BUILD (clang-14, -j$JOBS)"
start=$(date +%s)
# A unity build: the sanitised compile is dominated by the same gRPC and
# protobuf headers in every file; one translation unit per few files takes a
# third less CPU (protos and a few files with clashing file-local names are
# compiled on their own: UNITY_BUILD OFF / SKIP_UNITY_BUILD_INCLUSION).
CC=clang-14 CXX=clang++-14 cmake -S "$ROOT" -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DTONGBAN_FUZZ=ON -DCMAKE_UNITY_BUILD=ON >/dev/null
exes=()
for t in "${TARGETS[@]}"; do exes+=("fuzz_$t"); done
cmake --build "$BUILD" -j"$JOBS" --target "${exes[@]}"
echo "==> fuzz build took $(( $(date +%s) - start )) s"
[ "${TONGBAN_FUZZ_BUILD_ONLY:-0}" = 1 ] && exit 0

mkdir -p "$CRASHES"
scratch=$(mktemp -d "${TMPDIR:-/tmp}/tongban-fuzz-XXXXXX")
trap 'rm -rf "$scratch"' EXIT
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:symbolize=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [ -x /usr/lib/llvm-14/bin/llvm-symbolizer ]; then
  export ASAN_SYMBOLIZER_PATH=${ASAN_SYMBOLIZER_PATH:-/usr/lib/llvm-14/bin/llvm-symbolizer}
fi

failed=()
summary=()
for t in "${TARGETS[@]}"; do
  corpus="$scratch/$t"
  mkdir -p "$corpus"
  cp "$ROOT/tests/fuzz/corpus/$t/"* "$corpus/" 2>/dev/null || true
  log="$scratch/$t.log"
  echo "==> fuzzing $t for ${SECONDS_PER_TARGET} s"
  rc=0
  # -timeout: one input taking 10 s is a hang; -rss_limit_mb: a store or a
  # parser growing without bound is a finding too.
  (cd "$scratch" && "$BUILD/tests/fuzz/fuzz_$t" -max_total_time="$SECONDS_PER_TARGET" \
    -timeout=10 -rss_limit_mb=2048 -max_len=8192 -print_final_stats=1 \
    -artifact_prefix="$CRASHES/$t-" "$corpus") >"$log" 2>&1 || rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  units=$(find "$corpus" -type f | wc -l)
  if [ "$rc" -ne 0 ]; then
    failed+=("$t")
    echo "!!! $t: finding (exit $rc); log tail:"
    tail -n 40 "$log"
    summary+=("$(printf '%-20s %10s execs  cov %6s  ft %7s  corpus %4s  FINDING (see %s)' \
      "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$units" "$CRASHES")")
  else
    summary+=("$(printf '%-20s %10s execs  cov %6s  ft %7s  corpus %4s  ok' \
      "$t" "${execs:-?}" "${cov:-?}" "${ft:-?}" "$units")")
  fi
  if [ -n "${TONGBAN_FUZZ_KEEP:-}" ]; then
    mkdir -p "$TONGBAN_FUZZ_KEEP/$t"
    cp "$corpus/"* "$TONGBAN_FUZZ_KEEP/$t/" 2>/dev/null || true
  fi
done

echo "==> fuzzing summary (${SECONDS_PER_TARGET} s per target)"
printf '%s\n' "${summary[@]}"
if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}; inputs in $CRASHES" >&2
  echo "reproduce: $BUILD/tests/fuzz/fuzz_<target> <input>; add it to tests/fuzz/corpus/<target>/ once fixed" >&2
  exit 1
fi
