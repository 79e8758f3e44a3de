#!/usr/bin/env bash
# Starts a local tongban-node with the demo catalog and dev certificates on
# loopback: installs missing packages, builds, generates dev certs on first
# run, prints the endpoints and a ready-to-paste `buf curl` command, and
# stops cleanly on Ctrl-C. Usage: node/run-local.sh [province code, default 430000]
set -euo pipefail
source "$(dirname "${BASH_SOURCE[0]}")/../common/bootstrap.sh"
PROVINCE=${1:-430000}
tongban_install_packages
tongban_build
"$TONGBAN_ROOT/certs/gen-dev-certs.sh"
CERTS="$TONGBAN_ROOT/certs/dev"
RUN="$TONGBAN_ROOT/run/node-$PROVINCE"
mkdir -p "$RUN"
rm -f "$RUN/ready"
"$TONGBAN_BUILD/node/tongban-node" \
  --province="$PROVINCE" --listen=127.0.0.1:20051 --metrics_listen=127.0.0.1:20064 \
  --database="$RUN/node.db" --demo_catalog="$TONGBAN_ROOT/node/demo_catalog" \
  --calendar="$TONGBAN_ROOT/common/working_days/cn-national.tsv" \
  --cert="$CERTS/province/$PROVINCE/node/cert.pem" --key="$CERTS/province/$PROVINCE/node/key.pem" \
  --ca="$CERTS/ca/ca.pem" --ready_file="$RUN/ready" 2>>"$RUN/node.log" &
NODE_PID=$!
trap 'kill -TERM $NODE_PID 2>/dev/null; wait $NODE_PID; echo "==> node stopped"' INT TERM
for _ in $(seq 1 300); do
  [ -s "$RUN/ready" ] && break
  kill -0 $NODE_PID 2>/dev/null || { echo "node failed to start:"; tail -5 "$RUN/node.log"; exit 1; }
  sleep 0.1
done
OFFICER="$CERTS/province/$PROVINCE/officer/officer-01"
cat <<INFO
==> tongban-node $PROVINCE serving ($(cat "$RUN/ready"))
    gRPC (mTLS):  127.0.0.1:20051      metrics: http://127.0.0.1:20064/metrics
    log:          $RUN/node.log        database: $RUN/node.db
    try (npm install @bufbuild/buf):
      npx buf curl --protocol grpc --cacert $CERTS/ca/ca.pem \\
        --cert $OFFICER/cert.pem --key $OFFICER/key.pem --list-methods https://localhost:20051
    Ctrl-C stops the node.
INFO
wait $NODE_PID
