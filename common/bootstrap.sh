#!/usr/bin/env bash
# Shared set-up for the README's two commands: installs the Debian packages
# that are missing (idempotent, non-interactive) and builds the project.
# Sourced by node/run-local.sh and tests/run-all.sh; not run on its own.
set -euo pipefail

TONGBAN_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TONGBAN_BUILD=${TONGBAN_BUILD:-$TONGBAN_ROOT/build}
TONGBAN_PACKAGES=(cmake g++ make pkg-config openssl libgrpc++-dev protobuf-compiler-grpc
  libprotobuf-dev protobuf-compiler prometheus-cpp-dev libssl-dev libgtest-dev libgmock-dev
  libsqlite3-dev libcpp-httplib-dev zlib1g-dev libboost-dev libnghttp2-dev libbrotli-dev
  libgoogle-perftools-dev  # tcmalloc for the servers (CMakeLists.txt)
  libpq-dev postgresql-15  # the PostgreSQL store and the server its tests start (tests/store/)
  prometheus python3-yaml unzip curl
  mmdebstrap umoci  # container images from Debian packages (helm/images/, tests/images/)
  clang-14 libclang-rt-14-dev llvm-14  # libFuzzer, sanitizers, symbolizer (tests/fuzz/)
  golang-grpc-gateway)  # protoc-gen-swagger: unit.openapi_matches_protoc_gen_swagger

tongban_install_packages() {
  local missing=()
  for p in "${TONGBAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  # Node.js and npm (the @grpc/grpc-js interop test): Debian's, unless the
  # machine already has a node and npm of its own (e.g. NodeSource's).
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then missing+=(nodejs npm); fi
  [ ${#missing[@]} -eq 0 ] && return 0
  echo "==> installing Debian packages: ${missing[*]}"
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -q
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
  # Debian's postgresql-15 creates a cluster "15/main" on install and starts
  # it. Nothing here uses it (the tests start and remove servers of their
  # own), so the one this install just created is stopped and dropped: no
  # PostgreSQL server is left running or listening on 5432. A cluster that
  # existed before (postgresql-15 already installed) is never touched.
  if [[ " ${missing[*]} " == *" postgresql-15 "* ]] && command -v pg_dropcluster >/dev/null &&
    pg_lsclusters -h 2>/dev/null | awk '$1 == "15" && $2 == "main" { found = 1 } END { exit !found }'; then
    echo "==> dropping the PostgreSQL cluster 15/main the package created (tests use their own)"
    $sudo pg_dropcluster --stop 15 main
  fi
}

tongban_build() {
  local jobs
  jobs=$(nproc 2>/dev/null || echo 2)
  echo "==> building in $TONGBAN_BUILD (-j$jobs)"
  # A unity build (several .cc files per compile; tests/ excepted): the
  # compile is dominated by the same gRPC, protobuf and Boost headers in every
  # file, and this build runs from scratch on every fresh CI machine.
  cmake -S "$TONGBAN_ROOT" -B "$TONGBAN_BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTONGBAN_WERROR=ON -DCMAKE_UNITY_BUILD=ON >/dev/null
  # CMake's own [ NN%] lines are the progress; an up-to-date build prints little.
  cmake --build "$TONGBAN_BUILD" -j"$jobs"
}
