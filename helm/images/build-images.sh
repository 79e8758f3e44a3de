#!/usr/bin/env bash
# Builds the OCI images of tongban-node, tongban-gateway and tongbanctl from
# Debian 12 packages only (no registry): one runtime layer holding exactly
# the Debian packages that own the shared libraries the binaries load (and
# their dependencies), unpacked by mmdebstrap without maintainer scripts, no
# shell, no package manager; one layer per binary on top; user 10001, no root.
# umoci writes the images into one OCI layout (the runtime layer is shared),
# saved as one tar: load with `podman load -i tongban-images.oci.tar`
# (tags node, gateway, tongbanctl) or `skopeo copy oci-archive:...:node ...`.
#
# Usage: helm/images/build-images.sh [--build-dir DIR] [--out DIR] [--tag TAG]
#   --build-dir  built tree with the three binaries (default: build/; built
#                with the README's set-up when the binaries are missing)
#   --out        where the image tar and its manifest go (default: build/images)
#   --tag        image version label (default: the git commit)
# Needs: mmdebstrap, umoci (Debian packages; installed when missing), and
# network access to deb.debian.org (or the mirrors in TONGBAN_IMAGE_MIRRORS,
# one apt "deb ..." line per entry, separated by "|").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=$ROOT/build
OUT=
TAG=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev)
while (($#)); do
  case $1 in
    --build-dir) BUILD=$(cd "$2" && pwd); shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --tag) TAG=$2; shift 2 ;;
    -h | --help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "build-images: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
OUT=${OUT:-$BUILD/images}
step() { echo "==> $*"; }

missing=()
for tool in mmdebstrap umoci; do command -v "$tool" >/dev/null || missing+=("$tool"); done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -ne 0 ] && sudo=sudo
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

declare -A BINARY=(
  [node]=$BUILD/node/tongban-node
  [gateway]=$BUILD/gateway/tongban-gateway
  [tongbanctl]=$BUILD/gateway/tongbanctl/tongbanctl
)
for name in "${!BINARY[@]}"; do
  if [ ! -x "${BINARY[$name]}" ]; then
    step "building the binaries in $BUILD"
    TONGBAN_BUILD=$BUILD bash -c "source '$ROOT/common/bootstrap.sh' && tongban_install_packages && \
      cmake -S '$ROOT' -B '$BUILD' -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null && \
      cmake --build '$BUILD' -j$(nproc) --target tongban-node tongban-gateway tongbanctl"
    break
  fi
done

# The Debian package that owns a shared library path (usrmerge: dpkg may
# know it under /lib or /usr/lib).
owner() {
  local p=$1 real
  real=$(readlink -f "$p")
  for candidate in "$p" "/usr$p" "${p#/usr}" "$real" "/usr$real" "${real#/usr}"; do
    dpkg -S "$candidate" 2>/dev/null | head -1 | cut -d: -f1 && return 0
  done
  echo "build-images: no Debian package owns $p (a library built by hand?)" >&2
  return 1
}
step "finding the runtime packages (ldd + dpkg -S)"
packages=$(for b in "${BINARY[@]}"; do ldd "$b" | awk '$3 ~ /^\// {print $3}'; done | sort -u |
  while read -r lib; do owner "$lib"; done | sort -u)
echo "$packages" | tr '\n' ' '; echo

work=$(mktemp -d "${TMPDIR:-/tmp}/tongban-images-XXXXXX")
trap 'rm -rf "$work"' EXIT
mirrors=${TONGBAN_IMAGE_MIRRORS:-"deb http://deb.debian.org/debian bookworm main|deb http://deb.debian.org/debian bookworm-updates main|deb http://deb.debian.org/debian-security bookworm-security main"}
IFS='|' read -r -a mirror_lines <<<"$mirrors"

step "runtime root file system (mmdebstrap --variant=extract, Debian 12)"
# extract: the packages and their dependencies are unpacked, nothing is run.
mmdebstrap --quiet --variant=extract --include="$(echo "$packages" | paste -sd, -)" \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/locale/*' --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  bookworm "$work/runtime" "${mirror_lines[@]}"
rootfs=$work/runtime
# Only what the extract variant leaves for dpkg's own use goes.
rm -rf "$rootfs/var/lib/apt" "$rootfs/var/cache/apt" "$rootfs/var/log"/* "$rootfs/dev"/*
mkdir -p "$rootfs/etc" "$rootfs/tmp" "$rootfs/var/lib/tongban" "$rootfs/etc/tongban" "$rootfs/usr/local/bin"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\ntongban:x:10001:10001:tongban:/var/lib/tongban:/usr/sbin/nologin\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\ntongban:x:10001:\n' >"$rootfs/etc/group"
chown 10001:10001 "$rootfs/var/lib/tongban"
echo "$packages" >"$rootfs/etc/tongban/runtime-packages"

step "OCI layout (umoci)"
layout=$work/layout
umoci init --layout "$layout"
umoci new --image "$layout:runtime"
umoci unpack --rootless --image "$layout:runtime" "$work/bundle-runtime" >/dev/null
rm -rf "$work/bundle-runtime/rootfs"
mv "$rootfs" "$work/bundle-runtime/rootfs"
umoci repack --image "$layout:runtime" "$work/bundle-runtime"
for name in node gateway tongbanctl; do
  bundle=$work/bundle-$name
  umoci unpack --rootless --image "$layout:runtime" "$bundle" >/dev/null
  install -m 0755 "${BINARY[$name]}" "$bundle/rootfs/usr/local/bin/"
  if [ "$name" = node ]; then
    # Data the chart's node config names inside the image (helm/tongban/values.yaml):
    # the working-day calendar and the demo catalog.
    mkdir -p "$bundle/rootfs/usr/share/tongban"
    cp -r "$ROOT/common/working_days" "$bundle/rootfs/usr/share/tongban/working_days"
    cp -r "$ROOT/node/demo_catalog" "$bundle/rootfs/usr/share/tongban/demo_catalog"
  fi
  umoci repack --image "$layout:$name" "$bundle"
  exe=/usr/local/bin/$(basename "${BINARY[$name]}")
  umoci config --image "$layout:$name" --config.user 10001:10001 --config.workingdir /var/lib/tongban \
    --config.entrypoint "$exe" --config.cmd --help \
    --config.label "org.opencontainers.image.title=tongban-$name" \
    --config.label "org.opencontainers.image.version=$TAG" \
    --config.label "org.opencontainers.image.source=https://tongban.example/tongban" \
    --config.label "org.opencontainers.image.base.name=debian:bookworm (packages only)"
  rm -rf "$bundle"
done
umoci gc --layout "$layout"

mkdir -p "$OUT"
tar -C "$layout" -cf "$OUT/tongban-images.oci.tar" .
{
  echo "images: node gateway tongbanctl (tags), version $TAG"
  echo "runtime packages: $(echo "$packages" | wc -l)"
  echo "$packages"
} >"$OUT/tongban-images.txt"
size=$(du -m "$OUT/tongban-images.oci.tar" | cut -f1)
step "wrote $OUT/tongban-images.oci.tar (${size} MB for all three images) and tongban-images.txt"
