#!/usr/bin/env bash
# Revoke a certificate of the Tongban PKI and publish a new CRL, or re-sign
# the CRLs before they expire.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: certs/revoke.sh <cert.pem> [--reason REASON] [options]
       certs/revoke.sh --refresh-crl [options]

Revoke <cert.pem> in the database of the CA that issued it (the issuing CA
DIR/ca, or DIR/ca-prev during a CA rotation) and publish a new CRL of that
CA into DIR/crl/ as <issuer-hash>.r<n> (the directory for tls.crl_directory /
--crl_dir) and as DIR/crl/<ca>.crl.pem.

Each publication adds the next suffix n instead of overwriting: a running
node or gateway loads only CRL files it has not seen yet, and of all CRLs of
an issuer uses the newest. See docs/operations.md, "Revoke a certificate".

--refresh-crl re-signs the CRL of every CA (same revocations, new
nextUpdate); run it well before nextUpdate (e.g. daily from cron): a node or
gateway refuses every peer once the newest CRL it has has expired.

Options:
  --reason R      unspecified, keyCompromise, CACompromise, affiliationChanged,
                  superseded, cessationOfOperation, certificateHold
                  (default unspecified)
  --out DIR       the PKI directory (default: <repo>/certs/dev)
  --crl-days N    validity (nextUpdate) of the new CRL in days (default 7)
  --help          show this help
EOF
}

PKI_PROG=revoke.sh
source "$(dirname "${BASH_SOURCE[0]}")/pki-lib.sh"

DIR=$PKI_DEFAULT_DIR CRL_DAYS=7 REASON=unspecified REFRESH=0 CERT=""
while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; DIR=$2; shift 2 ;;
    --out=*) DIR=${1#--out=}; shift ;;
    --crl-days) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; CRL_DAYS=$2; shift 2 ;;
    --crl-days=*) CRL_DAYS=${1#--crl-days=}; shift ;;
    --reason) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; REASON=$2; shift 2 ;;
    --reason=*) REASON=${1#--reason=}; shift ;;
    --refresh-crl) REFRESH=1; shift ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "revoke.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) [[ -z $CERT ]] || { usage >&2; exit 2; }; CERT=$1; shift ;;
  esac
done
if ((REFRESH)) && [[ -n $CERT ]]; then
  echo "revoke.sh: give either <cert.pem> or --refresh-crl" >&2; exit 2
fi
((REFRESH)) || [[ -n $CERT ]] || { usage >&2; exit 2; }
[[ $CRL_DAYS =~ ^[0-9]+$ ]] && ((CRL_DAYS >= 1 && CRL_DAYS <= 365)) ||
  pki_die "--crl-days must be 1..365, got '$CRL_DAYS'"
case $REASON in
  unspecified|keyCompromise|CACompromise|affiliationChanged|superseded|cessationOfOperation|certificateHold) ;;
  *) pki_die "unknown --reason '$REASON'" ;;
esac

DIR=$(pki_resolve_dir "$DIR")
pki_init
pki_lock "$DIR"

if ((REFRESH)); then
  while read -r cadir; do pki_publish_crl "$DIR" "$cadir" "$CRL_DAYS"; done < <(pki_ca_dirs "$DIR")
  exit 0
fi

[[ -r $CERT ]] || pki_die "cannot read $CERT"
# Resolve symlinks (cert.pem -> ..data/cert.pem): revoke what is there now.
CERT=$(readlink -f "$CERT")
openssl x509 -noout -in "$CERT" 2>/dev/null || pki_die "$CERT holds no PEM certificate"
issuer_dir=""
while read -r cadir; do
  if openssl verify -no_check_time -CAfile "$(pki_ca_cert "$cadir")" "$CERT" >/dev/null 2>&1; then
    issuer_dir=$cadir; break
  fi
done < <(pki_ca_dirs "$DIR")
[[ -n $issuer_dir ]] || pki_die "$CERT was not issued by a CA of $DIR (checked: $(pki_ca_dirs "$DIR" | tr '\n' ' '))"

serial=$(openssl x509 -noout -serial -in "$CERT"); serial=${serial#serial=}
status=$(cd "$issuer_dir" && openssl ca -config ca.cnf -status "$serial" 2>&1 || true)
if [[ $status == *"Revoked"* ]]; then
  pki_say "serial $serial is already revoked in $(basename "$issuer_dir"); publishing the CRL again"
else
  (cd "$issuer_dir" && pki_run openssl ca -config ca.cnf -revoke "$CERT" -crl_reason "$REASON")
  pki_say "revoked serial $serial ($(openssl x509 -noout -subject -nameopt oneline -in "$CERT")), reason $REASON"
fi
pki_publish_crl "$DIR" "$issuer_dir" "$CRL_DAYS"
