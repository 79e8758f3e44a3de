#!/bin/sh
# Runs a command inside an unpacked container image's root file system, the
# way a container runtime would but without one (tests/images/): a new user
# namespace (the caller's uid is root inside, nothing is root outside) and
# mount namespace, the host directories in BINDS (colon-separated) mounted at
# the same paths, /dev/null, /dev/urandom and /proc from the host, then
# chroot. The command keeps this process's pid (exec all the way), so a
# test's SIGTERM and SIGKILL reach it.
#
# Usage: run-in-image.sh ROOTFS BINDS COMMAND [ARGS...]
set -eu
[ $# -ge 3 ] || { echo "usage: run-in-image.sh ROOTFS BINDS COMMAND [ARGS...]" >&2; exit 2; }
exec unshare --user --map-root-user --mount -- /bin/sh -eu -c '
root=$1; binds=$2; shift 2
mount --make-rprivate /
old_ifs=$IFS; IFS=:
for dir in $binds; do
  [ -n "$dir" ] || continue
  mkdir -p "$root$dir"
  mount --rbind "$dir" "$root$dir"
done
IFS=$old_ifs
mkdir -p "$root/dev" "$root/proc"
for dev in null urandom random zero; do
  : >"$root/dev/$dev"
  mount --bind "/dev/$dev" "$root/dev/$dev"
done
mount --rbind /proc "$root/proc"
exec chroot "$root" "$@"
' run-in-image "$@"
