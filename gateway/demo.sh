#!/usr/bin/env bash
# One command for the scripted demo: starts the local federation (detached)
# unless one is running, plays the 跨省通办 stories through the gateway
# (tongban-demo), and stops the federation it started.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=$ROOT/run/federation
started=0
if [[ ! -s $RUN/pids ]]; then
  "$ROOT/gateway/run-federation.sh" --detach
  started=1
fi
trap '((started)) && "$ROOT/gateway/run-federation.sh" --stop' EXIT
pid_510000=$(awk '$1 == "510000" {print $2}' "$RUN/pids")
"$ROOT/build/gateway/demo/tongban-demo" --certs="$ROOT/certs/dev" --freeze_pid="${pid_510000:-0}"
