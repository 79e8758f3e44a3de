#!/usr/bin/env bash
# Runs every test: installs missing Debian packages, builds, generates the
# test certificates (a CTest fixture) and runs unit, store, catalog and
# integration tests with CTest. Usage: tests/run-all.sh [extra ctest args]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/bootstrap.sh"
tongban_install_packages
tongban_build
echo "==> running tests"
cd "$TONGBAN_BUILD"
ctest --output-on-failure -j"$(nproc 2>/dev/null || echo 2)" --timeout 600 "$@"
