#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests (tests/store/CMakeLists.txt:
# the store.postgres_server fixture), or for a developer running a store test
# binary by hand.
#
#   pg_test_server.sh start STATE_FILE   # writes STATE_FILE (dir=..., conninfo=...)
#   pg_test_server.sh stop STATE_FILE    # stops the server and removes its files
#
# The cluster lives in a fresh directory under $TMPDIR (or /tmp), listens
# only on a unix socket in that directory (no TCP port at all, so parallel
# runs cannot collide), trusts local connections as user "postgres" and runs
# with fsync off: it holds test data only (TONGBAN_PG_DURABLE=1: fsync,
# synchronous_commit and full_page_writes on, as in production; tongban-bench). PostgreSQL refuses to run as
# root, so as root the server runs as the "postgres" user (Debian's package
# creates it), else as "nobody". STATE_FILE holds the directory and the
# libpq conninfo; `stop` reads it. `start` first stops a server a previous,
# interrupted run left behind in the same STATE_FILE.
set -euo pipefail

PG_BIN=${TONGBAN_PG_BIN:-/usr/lib/postgresql/15/bin}
cmd=${1:-}
state=${2:-}
if [ -z "$cmd" ] || [ -z "$state" ]; then
  echo "usage: $0 start|stop STATE_FILE" >&2
  exit 2
fi

stop_server() {
  [ -f "$state" ] || return 0
  local dir
  dir=$(sed -n 's/^dir=//p' "$state")
  if [ -n "$dir" ] && [ -d "$dir" ]; then
    if [ -f "$dir/data/postmaster.pid" ]; then
      local pid
      pid=$(head -1 "$dir/data/postmaster.pid" 2>/dev/null || true)
      # -m immediate: test data need no clean shutdown; -w waits until the
      # server has exited.
      as_owner "$dir" "$PG_BIN/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
      if [ -n "$pid" ]; then
        # A server that did not stop (pg_ctl missing, say): by its pid, not by name.
        if [ "$(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null)" != Z ]; then
          kill -KILL "$pid" 2>/dev/null || true
        fi
        # pg_ctl detached the server, so init reaps it, in its own time:
        # wait (up to 10 s) until it has, so that no postgres process, not
        # even a zombie, outlives the tests.
        for _ in $(seq 1 200); do
          [ -e "/proc/$pid" ] || break
          sleep 0.05
        done
      fi
    fi
    rm -rf "$dir"
  fi
  rm -f "$state"
}

# Runs a command as the user that owns directory $1 (the server's user).
as_owner() {
  local dir=$1
  shift
  local owner
  owner=$(stat -c %U "$dir")
  if [ "$(id -un)" = "$owner" ]; then
    "$@"
  else
    runuser -u "$owner" -- "$@"
  fi
}

case "$cmd" in
  stop)
    stop_server
    ;;
  start)
    stop_server
    for tool in initdb pg_ctl postgres; do
      if [ ! -x "$PG_BIN/$tool" ]; then
        echo "PostgreSQL server binaries not found ($PG_BIN/$tool): install the Debian" \
          "package postgresql-15 (common/bootstrap.sh installs it; the README's commands run it)" >&2
        exit 1
      fi
    done
    dir=$(mktemp -d "${TMPDIR:-/tmp}/tongban-pg-XXXXXX")
    chmod 755 "$dir"
    if [ "$(id -u)" -eq 0 ]; then
      user=nobody
      id postgres >/dev/null 2>&1 && user=postgres
      chown "$user" "$dir"
    fi
    # No TCP listener: the port only names the socket file, so any number
    # works; a random one keeps two servers from ever sharing a name.
    port=$((20000 + RANDOM % 20000))
    # Written first: a failure below still leaves what `stop` needs. The
    # conninfo names no database: each test creates its own.
    printf 'dir=%s\nconninfo=host=%s port=%s user=postgres\n' "$dir" "$dir" "$port" >"$state"
    if ! as_owner "$dir" "$PG_BIN/initdb" -D "$dir/data" -U postgres -A trust --no-sync \
      -E UTF8 --locale=C.UTF-8 >"$dir/initdb.log" 2>&1; then
      cat "$dir/initdb.log" >&2
      stop_server
      exit 1
    fi
    durability="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    if [ "${TONGBAN_PG_DURABLE:-0}" = 1 ]; then
      durability="-c fsync=on -c synchronous_commit=on -c full_page_writes=on"
    fi
    # -w: pg_ctl returns once the server accepts connections (its readiness
    # signal), or fails after -t seconds.
    if ! as_owner "$dir" "$PG_BIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
      -o "-c listen_addresses='' -c unix_socket_directories='$dir' -c port=$port \
          $durability -c max_connections=200" start >/dev/null; then
      cat "$dir/server.log" >&2 || true
      stop_server
      exit 1
    fi
    ;;
  *)
    echo "usage: $0 start|stop STATE_FILE" >&2
    exit 2
    ;;
esac
