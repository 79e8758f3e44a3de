#!/usr/bin/env bash
# Starts the whole local federation on loopback with fixed ports: 31 province
# nodes and the gateway, dev certificates, demo catalog. Everything it writes
# is under run/federation/. Ctrl-C stops it (gateway first, then the nodes).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: gateway/run-federation.sh [--fresh] [--detach] [--no-build] | --stop
Installs missing packages, builds, generates dev certificates, then starts the
31 province nodes (node i in province code order: gRPC 127.0.0.1:21000+i,
metrics 127.0.0.1:22000+i) and the gateway (gRPC 127.0.0.1:20050, metrics
127.0.0.1:20090; public edge for citizens' apps: REST/JSON https://127.0.0.1:20443,
public gRPC 127.0.0.1:20444). run/federation/ holds each node's database and log,
directory.textproto, gateway.textproto, endpoints.json and pids.
  --fresh     delete the node databases first (default: keep data across runs)
  --detach    start, print the endpoints, write run/federation/pids, exit 0
  --no-build  skip package installation and the build (tests, benchmarks)
  --stop      stop the federation listed in run/federation/pids
  --help      show this help
EOF
}

FRESH=0 DETACH=0 BUILD=1 STOP=0
for arg; do
  case $arg in
    --fresh) FRESH=1 ;; --detach) DETACH=1 ;; --no-build) BUILD=0 ;; --stop) STOP=1 ;;
    -h | --help) usage; exit 0 ;;
    *) echo "unknown argument: $arg" >&2; usage >&2; exit 2 ;;
  esac
done

source "$(dirname "${BASH_SOURCE[0]}")/../common/bootstrap.sh"
source "$TONGBAN_ROOT/gateway/federation-directory.sh"
RUN=$TONGBAN_ROOT/run/federation CERTS=$TONGBAN_ROOT/certs/dev
GATEWAY_BIN=$TONGBAN_BUILD/gateway/tongban-gateway
GATEWAY_GRPC=127.0.0.1:20050 GATEWAY_METRICS=127.0.0.1:20090 GRPC_BASE=21000 METRICS_BASE=22000
EDGE_HTTPS=127.0.0.1:20443 EDGE_GRPC=127.0.0.1:20444
RESERVED=20050,20090,20443,20444,21000-21030,22000-22030   # for the hint when a port is taken
declare -A PID=()   # process name (province code or "gateway") -> pid
CHILDREN=1          # 0 under --stop: the processes are not this shell's children

now_ms() { local t=${EPOCHREALTIME//[.,]/}; echo $((t / 1000)); }
log_of() { if [[ $1 == gateway ]]; then echo "$RUN/gateway/gateway.log"; else echo "$RUN/$1/node.log"; fi; }
# A zombie has an empty cmdline, and a recycled pid another program's.
is_running() { grep -qa tongban- "/proc/$1/cmdline" 2>/dev/null; }

# Waits for one process to end; reports a non-zero exit. Children are reaped
# with `wait` (status known); others are polled, and killed after 15 s
# (longer than the 10 s shutdown grace).
await_exit() {
  local name=$1 pid=${PID[$1]} rc=0 i
  if ((CHILDREN)); then wait "$pid" || rc=$?
  else
    for ((i = 0; i < 300; i++)); do is_running "$pid" || break; sleep 0.05; done
    if is_running "$pid"; then kill -KILL "$pid"; rc=137; fi
  fi
  unset "PID[$name]"
  ((rc != 0)) || return 0
  local why=""   # 143: our SIGTERM arrived while it was still starting
  ((rc != 143)) || why=" (terminated while starting)"
  echo "==> $name (pid $pid) exited with status $rc$why; see $(log_of "$name")"
  return 1
}

# The gateway goes first, so that it stops routing before the nodes go away.
stop_all() {
  local name failed=0
  if [[ -n ${PID[gateway]:-} ]]; then
    kill -TERM "${PID[gateway]}" 2>/dev/null || true
    await_exit gateway || failed=1
  fi
  for name in "${!PID[@]}"; do kill -TERM "${PID[$name]}" 2>/dev/null || true; done
  for name in "${!PID[@]}"; do await_exit "$name" || failed=1; done
  rm -f "$RUN/pids"
  return "$failed"
}

# EXIT trap: however this script ends (Ctrl-C, SIGTERM, a failure), it stops
# what it started, unless --detach has handed the processes over to pids.
finish() {
  local rc=$?
  trap - EXIT INT TERM
  if ((DETACH)) && [[ -s $RUN/pids ]] || ((${#PID[@]} == 0)); then exit "$rc"; fi
  echo; echo "==> stopping the federation"
  if stop_all; then echo "==> stopped cleanly"; exit "$rc"; fi
  exit 1
}

stop_detached() {   # --stop; the pids file has "name pid" lines
  local name pid
  [[ -s $RUN/pids ]] || { echo "no run/federation/pids: nothing to stop"; return 0; }
  CHILDREN=0
  while read -r name pid; do
    if is_running "$pid"; then PID[$name]=$pid; else echo "==> $name (pid $pid) was not running"; fi
  done <"$RUN/pids"
  echo "==> stopping ${#PID[@]} processes"
  stop_all && echo "==> stopped cleanly"
}

# gRPC binds with SO_REUSEPORT, so a node would start without error on a port
# another process serves and share its traffic: probe every port first.
check_ports() {
  local port
  for port; do
    if : 2>/dev/null <>"/dev/tcp/127.0.0.1/$port"; then
      echo "port $port is already in use (a federation still running? gateway/run-federation.sh --stop)" >&2
      exit 1
    fi
  done
}

# Processes start in their own session (setsid execs in place: $! stays their
# pid), so Ctrl-C reaches only this script, which stops them in order; a
# blocked SIGINT is delivered to the binaries' sigwait even when ignored.
start_node() {
  local code=$1 i=${PROVINCE_INDEX[$1]} dir=$RUN/$1
  mkdir -p "$dir" && rm -f "$dir/ready"
  if ((FRESH)); then rm -f "$dir"/node.db "$dir"/node.db-*; fi
  setsid "$TONGBAN_BUILD/node/tongban-node" --province="$code" --listen="127.0.0.1:$((GRPC_BASE + i))" \
    --metrics_listen="127.0.0.1:$((METRICS_BASE + i))" --gateway="$GATEWAY_GRPC" \
    --database="$dir/node.db" --demo_catalog="$TONGBAN_ROOT/node/demo_catalog" \
    --calendar="$TONGBAN_ROOT/common/working_days/cn-national.tsv" \
    --cert="$CERTS/province/$code/node/cert.pem" --key="$CERTS/province/$code/node/key.pem" \
    --ca="$CERTS/ca/ca.pem" --ready_file="$dir/ready" </dev/null >>"$dir/node.log" 2>&1 &
  PID[$code]=$!
}

start_gateway() {
  mkdir -p "$RUN/gateway" && rm -f "$RUN/gateway/ready"
  cat >"$RUN/gateway.textproto" <<EOF
# Generated by gateway/run-federation.sh on every start.
listen_address: "$GATEWAY_GRPC"
metrics_address: "$GATEWAY_METRICS"
tls { cert_file: "$CERTS/gateway/cert.pem" key_file: "$CERTS/gateway/key.pem" ca_file: "$CERTS/ca/ca.pem" }
directory_file: "$RUN/directory.textproto"
ready_file: "$RUN/gateway/ready"
public_edge {
  https_address: "$EDGE_HTTPS"
  grpc_address: "$EDGE_GRPC"
  # Dev: the gateway's certificate (SANs localhost, 127.0.0.1); a public CA's in production.
  cert_file: "$CERTS/gateway/cert.pem"
  key_file: "$CERTS/gateway/key.pem"
  tokens {
    issuer: "https://id.tongban.dev"
    audience: "tongban-public-api"
    keys { kid: "dev-1" public_key_file: "$CERTS/citizen-tokens/public-key.pem" }
  }
  cors_allowed_origins: "*"
}
EOF
  setsid "$GATEWAY_BIN" --config "$RUN/gateway.textproto" </dev/null >>"$RUN/gateway/gateway.log" 2>&1 &
  PID[gateway]=$!
}

# Polls the ready files every 50 ms until all the named processes serve;
# fails fast with the log tail when one exits, and after 60 s.
await_ready() {
  local label=$1 deadline n ready shown=-1 waiting tail; shift
  deadline=$(($(now_ms) + 60000))
  while :; do
    ready=0 waiting=""
    for n; do
      if [[ -s $RUN/$n/ready ]]; then ready=$((ready + 1)); continue; fi
      waiting+=" $n"
      if ! kill -0 "${PID[$n]}" 2>/dev/null; then
        tail=$(tail -n 5 "$(log_of "$n")")
        printf '\n==> %s exited before it was ready; end of %s:\n%s\n' "$n" "$(log_of "$n")" "$tail" >&2
        # The fixed ports lie in the kernel's ephemeral range: another program's
        # client connection, even one in TIME_WAIT (60 s), blocks a listener.
        [[ $tail != *"cannot listen"* && $tail != *"cannot serve metrics"* ]] ||
          echo "hint: reserve the ports: sudo sysctl -w net.ipv4.ip_local_reserved_ports=$RESERVED" >&2
        exit 1
      fi
    done
    if [[ -t 1 ]] && ((ready != shown)); then printf '\r%s ready: %d/%d' "$label" "$ready" $#; shown=$ready; fi
    ((ready < $#)) || { printf '\r%s ready: %d/%d\n' "$label" "$ready" $#; return 0; }
    (($(now_ms) < deadline)) || { printf '\n==> not ready after 60 s:%s\n' "$waiting" >&2; exit 1; }
    sleep 0.05
  done
}

write_endpoints() {
  local i sep="" gw=null
  [[ -z ${PID[gateway]:-} ]] || gw="{\"grpc\":\"$GATEWAY_GRPC\",\"metrics\":\"http://$GATEWAY_METRICS/metrics\",\"https\":\"https://$EDGE_HTTPS\",\"public_grpc\":\"$EDGE_GRPC\"}"
  {
    echo "{\"gateway\":$gw,\"nodes\":["
    for i in "${!PROVINCE_CODES[@]}"; do
      printf '%s{"province":"%s","name":"%s","grpc":"127.0.0.1:%d","metrics":"http://127.0.0.1:%d/metrics"}\n' \
        "$sep" "${PROVINCE_CODES[i]}" "${PROVINCE_NAMES[i]}" $((GRPC_BASE + i)) $((METRICS_BASE + i))
      sep=,
    done
    echo '],"ca":"certs/dev/ca/ca.pem","officer_cert_dir_pattern":"certs/dev/province/<code>/officer/officer-01"}'
  } >"$RUN/endpoints.json"
}

row() { printf '%-8s %-16s %-31s %s\n' "$@"; }   # the name last: CJK width breaks padding
print_summary() {   # args: ms to all ready, ms to nodes ready
  local i o=certs/dev/province/430000/officer/officer-01
  row code gRPC metrics name
  [[ -z ${PID[gateway]:-} ]] || row gateway "$GATEWAY_GRPC" "http://$GATEWAY_METRICS/metrics" 网关
  for i in "${!PROVINCE_CODES[@]}"; do
    row "${PROVINCE_CODES[i]}" "127.0.0.1:$((GRPC_BASE + i))" \
      "http://127.0.0.1:$((METRICS_BASE + i))/metrics" "${PROVINCE_NAMES[i]}"
  done
  cat <<EOF
==> federation up in $1 ms (31 nodes ready in $2 ms); endpoints: run/federation/endpoints.json
    try (npm install @bufbuild/buf), as officer-01 of Hunan:
      alias tb="npx buf curl --protocol grpc --cacert certs/dev/ca/ca.pem --cert $o/cert.pem --key $o/key.pem"
      tb -d '{"query":"社会保障"}' https://localhost:20050/tongban.v1.FederationQueryService/SearchFederation
      tb -d '{}' https://localhost:20050/tongban.v1.FederationQueryService/GetFederationStatus
      tb -d '{"query":"社会保障"}' https://localhost:21017/tongban.v1.CatalogService/SearchItems
    as a citizen, on the public REST/JSON edge (docs/public-api.md):
      TOKEN=\$(build/gateway/tongbanctl/tongbanctl token mint --key certs/dev/citizen-tokens/signing-key.pem --sub 430102199003070012)
      curl --cacert certs/dev/ca/ca.pem 'https://localhost:20443/v1/guides?query=%E7%A4%BE%E4%BF%9D'
      curl --cacert certs/dev/ca/ca.pem -H "Authorization: Bearer \$TOKEN" https://localhost:20443/v1/applications
EOF
}

if ((STOP)); then stop_detached; exit; fi
if ((BUILD)); then tongban_install_packages; tongban_build; fi
"$TONGBAN_ROOT/certs/gen-dev-certs.sh"
cd "$TONGBAN_ROOT"   # the printed commands use paths relative to the repository

START=$(now_ms)
mkdir -p "$RUN"
ports=()
for i in "${!PROVINCE_CODES[@]}"; do ports+=($((GRPC_BASE + i)) $((METRICS_BASE + i))); done
[[ ! -x $GATEWAY_BIN ]] || ports+=("${GATEWAY_GRPC##*:}" "${GATEWAY_METRICS##*:}" "${EDGE_HTTPS##*:}" "${EDGE_GRPC##*:}")
check_ports "${ports[@]}"
rm -f "$RUN/pids"   # a stale one would make finish() leave processes running
trap finish EXIT
trap 'exit 0' INT TERM   # finish() does the stopping
for code in "${PROVINCE_CODES[@]}"; do start_node "$code"; done
await_ready nodes "${PROVINCE_CODES[@]}"
NODES_READY=$(($(now_ms) - START))
federation_directory "$GRPC_BASE" >"$RUN/directory.textproto"
if [[ -x $GATEWAY_BIN ]]; then
  start_gateway
  await_ready gateway gateway
else   # until the gateway is merged (issue #4)
  echo "WARNING: $GATEWAY_BIN is not built yet: running the 31 nodes without a gateway" >&2
fi
ALL_READY=$(($(now_ms) - START))
for name in gateway "${PROVINCE_CODES[@]}"; do   # gateway first: --stop stops in this order
  if [[ -n ${PID[$name]:-} ]]; then echo "$name ${PID[$name]}"; fi
done >"$RUN/pids"
write_endpoints
print_summary "$ALL_READY" "$NODES_READY"
((DETACH)) && exit 0
echo "    Ctrl-C stops the federation."
# Report a process that ends on its own (say, killed to try partial results)
# and keep the others running; Ctrl-C and SIGTERM go through finish().
while ((${#PID[@]})); do
  rc=0 pid=""
  wait -n -p pid "${PID[@]}" || rc=$?
  for name in "${!PID[@]}"; do
    if [[ ${PID[$name]} == "$pid" ]]; then
      unset "PID[$name]"; echo "==> $name exited (status $rc); see $(log_of "$name")"
    fi
  done
done
echo "==> every process has exited"
