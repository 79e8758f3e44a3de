#!/usr/bin/env bash
# Installs @grpc/grpc-js and @grpc/proto-loader (exact versions, pinned by
# package-lock.json next to this script) into <dir>/node_modules for
# tests/edge/edge_grpcjs_test.cc. CTest runs it as edge.grpcjs_install
# (fixture grpcjs_modules).
#
#   tests/edge/grpcjs/install.sh <dir>
#
# Idempotent and instant when nothing changed: <dir>/node_modules/.tongban-stamp
# holds the SHA-256 of package.json + package-lock.json and the Node.js
# version it was installed with; `npm ci` runs only when that differs.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [[ $# -ne 1 || -z "$1" || "$1" == -h || "$1" == --help ]]; then
  echo "usage: $0 <dir>   (installs the pinned @grpc/grpc-js into <dir>/node_modules)" >&2
  exit 2
fi
dir="$1"

for tool in node npm; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    cat >&2 <<EOF
error: '$tool' was not found on PATH: the grpc-js interop test needs Node.js (>= 18) and npm.
Install them (Debian: apt-get install nodejs npm; common/bootstrap.sh, run by
tests/run-all.sh, does it), then run this again: $0 $dir
EOF
    exit 1
  fi
done

node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 18)); then
  echo "error: Node.js $(node --version) is too old for the grpc-js interop test; it needs >= 18." >&2
  exit 1
fi

for f in package.json package-lock.json; do
  if [[ ! -f "$here/$f" ]]; then
    echo "error: $here/$f is missing" >&2
    exit 1
  fi
done

mkdir -p "$dir"
stamp_file="$dir/node_modules/.tongban-stamp"
want="$(cat "$here/package.json" "$here/package-lock.json" | sha256sum | cut -d' ' -f1) node-$(node --version)"

# One installer at a time per directory (parallel ctest runs of two build
# trees use two directories; a second run of the same tree waits here).
exec 9>"$dir/.install.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$want" &&
      -f "$dir/node_modules/@grpc/grpc-js/package.json" &&
      -f "$dir/node_modules/@grpc/proto-loader/package.json" ]]; then
  echo "grpc-js modules in $dir/node_modules are up to date with package-lock.json"
  exit 0
fi

cp "$here/package.json" "$here/package-lock.json" "$dir/"
rm -f "$stamp_file"
echo "installing the pinned @grpc/grpc-js and @grpc/proto-loader into $dir (npm ci)"
# --ignore-scripts: the only install script in the tree (protobufjs's
# postinstall) merely warns about CLI version mismatches.
if ! (cd "$dir" && npm ci --no-audit --no-fund --ignore-scripts); then
  echo "error: 'npm ci' failed in $dir (is the npm registry reachable? see npm's output above)" >&2
  exit 1
fi
printf '%s\n' "$want" >"$stamp_file.tmp"
mv "$stamp_file.tmp" "$stamp_file"
(cd "$dir" && node -e '
  const fs = require("fs");
  for (const p of ["@grpc/grpc-js", "@grpc/proto-loader"]) {
    const v = JSON.parse(fs.readFileSync(`node_modules/${p}/package.json`, "utf8")).version;
    console.log(`installed ${p} ${v}`);
  }')
