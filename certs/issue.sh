#!/usr/bin/env bash
# Issue or re-issue (renew) one certificate of the Tongban PKI, swapping the
# key and certificate atomically so a running process (which re-reads its
# files every tls.refresh_interval_seconds) picks the new pair up.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: certs/issue.sh node <province> [options]
       certs/issue.sh officer <province> <officer-id> [options]
       certs/issue.sh operator <province> <operator-id> [options]
       certs/issue.sh gateway [options]

Issue a new key and certificate for one identity, signed by the issuing CA
of the PKI in DIR (made by certs/gen-dev-certs.sh), and install it in the
identity's usual place:

  node     DIR/province/<province>/node/       spiffe://tongban/province/<province>
           (+ DNS localhost, tongban-node-<province>, IP 127.0.0.1; serverAuth, clientAuth)
  officer  DIR/province/<province>/officer/<officer-id>/
           spiffe://tongban/province/<province>/officer/<officer-id> (clientAuth)
  operator DIR/province/<province>/operator/<operator-id>/
           spiffe://tongban/province/<province>/operator/<operator-id> (clientAuth):
           runs the province's node (outbox, dead letters), is no officer
  gateway  DIR/gateway/                        spiffe://tongban/gateway
           (+ DNS localhost, tongban-gateway, IP 127.0.0.1; serverAuth, clientAuth)

An existing certificate is renewed: a new key and certificate are written
into a new version directory and cert.pem/key.pem switch to it in one
rename (they are symlinks through <identity dir>/..data). The previous
version is kept next to it (.v-*) for rollback; it stays valid until it
expires unless you revoke it (certs/revoke.sh).

Options:
  --out DIR    the PKI directory (default: <repo>/certs/dev)
  --days N     validity of the new certificate in days (default 825)
  --help       show this help
EOF
}

PKI_PROG=issue.sh
source "$(dirname "${BASH_SOURCE[0]}")/pki-lib.sh"

DIR=$PKI_DEFAULT_DIR DAYS=825
args=()
while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; DIR=$2; shift 2 ;;
    --out=*) DIR=${1#--out=}; shift ;;
    --days) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; DAYS=$2; shift 2 ;;
    --days=*) DAYS=${1#--days=}; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "issue.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) args+=("$1"); shift ;;
  esac
done
((${#args[@]})) || { usage >&2; exit 2; }
case ${args[0]} in
  node) ((${#args[@]} == 2)) || { usage >&2; exit 2; } ;;
  officer|operator) ((${#args[@]} == 3)) || { usage >&2; exit 2; } ;;
  gateway) ((${#args[@]} == 1)) || { usage >&2; exit 2; } ;;
  *) echo "issue.sh: unknown identity kind '${args[0]}'" >&2; usage >&2; exit 2 ;;
esac
[[ $DAYS =~ ^[0-9]+$ ]] && ((DAYS >= 1 && DAYS <= 3650)) || pki_die "--days must be 1..3650, got '$DAYS'"

DIR=$(pki_resolve_dir "$DIR")
pki_init
pki_lock "$DIR"
pki_leaf_spec "$DIR" "${args[@]}"

renew=0
[[ -e $LEAF_DIR/cert.pem ]] && renew=1
pki_issue_into "$DIR/ca" "$PKI_WORK/new" "$LEAF_CN" "$LEAF_SAN" "$LEAF_EKU" -days "$DAYS"
pki_install_pair "$LEAF_DIR" "$PKI_WORK/new/key.pem" "$PKI_WORK/new/cert.pem"
rm -f "$PKI_WORK/new/key.pem"
if ((renew)); then verb=renewed; else verb=issued; fi
pki_say "$verb ${LEAF_SAN%%,*} in $LEAF_DIR: $(pki_describe "$LEAF_DIR/cert.pem")"
