#!/usr/bin/env bash
# Rotate the federation CA of the Tongban PKI in two phases, without
# stopping any process (each re-reads tls.ca_file, cert and key every
# tls.refresh_interval_seconds).
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: certs/rotate-ca.sh phase1 [--settle SECONDS] [--no-reissue] [options]
       certs/rotate-ca.sh reissue [options]
       certs/rotate-ca.sh phase2 [--force] [options]

phase1   1. creates a new CA (new key, distinct name "Tongban Dev Federation
            CA <time>") as the issuing CA in DIR/ca; the old CA's database
            moves to DIR/ca-prev (it can still revoke and sign CRLs);
         2. writes the trust bundle new+old into DIR/ca/ca.pem (atomically),
            so every process trusts certificates of both CAs;
         3. publishes a CRL of each CA into DIR/crl;
         4. waits --settle seconds (default 120: twice the default
            tls.refresh_interval_seconds) so every process has loaded the
            bundle before any peer presents a new-CA certificate;
         5. re-issues every leaf certificate (gateway, nodes, officers, operators; not
            test/) from the new CA, swapping each atomically.
         --no-reissue stops after step 4; run `reissue` later.
reissue  re-issues every leaf certificate not yet issued by the issuing CA.
phase2   run once every process uses a new-CA certificate (check with
         `tongbanctl certs check DIR`): removes the old CA from the bundle and
         its CRLs from DIR/crl, and retires DIR/ca-prev to
         DIR/ca-retired-<time>. Refuses while a leaf still chains only to the
         old CA (--force: do it anyway; those certificates stop working).

Options:
  --out DIR     the PKI directory (default: <repo>/certs/dev)
  --days N      validity of re-issued leaf certificates (default 825)
  --crl-days N  validity of the CRLs published in phase1 (default 7)
  --help        show this help

See docs/operations.md, "Rotate the CA", for the order of operations.
EOF
}

PKI_PROG=rotate-ca.sh
source "$(dirname "${BASH_SOURCE[0]}")/pki-lib.sh"

DIR=$PKI_DEFAULT_DIR DAYS=825 CRL_DAYS=7 SETTLE=120 REISSUE=1 FORCE=0 PHASE=""
while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; DIR=$2; shift 2 ;;
    --out=*) DIR=${1#--out=}; shift ;;
    --days) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; DAYS=$2; shift 2 ;;
    --days=*) DAYS=${1#--days=}; shift ;;
    --crl-days) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; CRL_DAYS=$2; shift 2 ;;
    --crl-days=*) CRL_DAYS=${1#--crl-days=}; shift ;;
    --settle) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; SETTLE=$2; shift 2 ;;
    --settle=*) SETTLE=${1#--settle=}; shift ;;
    --no-reissue) REISSUE=0; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    phase1|phase2|reissue) [[ -z $PHASE ]] || { usage >&2; exit 2; }; PHASE=$1; shift ;;
    *) echo "rotate-ca.sh: unknown argument $1" >&2; usage >&2; exit 2 ;;
  esac
done
[[ -n $PHASE ]] || { usage >&2; exit 2; }
[[ $DAYS =~ ^[0-9]+$ ]] && ((DAYS >= 1 && DAYS <= 3650)) || pki_die "--days must be 1..3650"
[[ $CRL_DAYS =~ ^[0-9]+$ ]] && ((CRL_DAYS >= 1 && CRL_DAYS <= 365)) || pki_die "--crl-days must be 1..365"
[[ $SETTLE =~ ^[0-9]+$ ]] || pki_die "--settle must be a number of seconds"

DIR=$(pki_resolve_dir "$DIR")
pki_init

reissue_all() {
  local new_ca n=0 kind
  new_ca=$(pki_ca_cert "$DIR/ca")
  while read -r -a kind; do
    pki_leaf_spec "$DIR" "${kind[@]}"
    pki_issued_by "$LEAF_DIR/cert.pem" "$new_ca" && continue
    pki_issue_into "$DIR/ca" "$PKI_WORK/new" "$LEAF_CN" "$LEAF_SAN" "$LEAF_EKU" -days "$DAYS"
    pki_install_pair "$LEAF_DIR" "$PKI_WORK/new/key.pem" "$PKI_WORK/new/cert.pem"
    rm -f "$PKI_WORK/new/key.pem"
    n=$((n + 1))
  done < <(pki_list_leaves "$DIR")
  pki_say "re-issued $n leaf certificates from $(openssl x509 -noout -subject -nameopt oneline -in "$new_ca")"
}

case $PHASE in
  phase1)
    pki_lock "$DIR"
    [[ ! -e $DIR/ca-prev ]] ||
      pki_die "$DIR/ca-prev exists: a rotation is in progress (finish it with phase2)"
    [[ ! -e $DIR/.ca-next && ! -e $DIR/.ca-prev.tmp ]] ||
      pki_die "$DIR/.ca-next or .ca-prev.tmp exists: an earlier phase1 was interrupted; inspect and remove by hand"
    stamp=$(date -u +%Y%m%dT%H%M%SZ)
    pki_make_ca "$DIR/.ca-next" "Tongban Dev Federation CA $stamp" 3650
    # The old database becomes self-contained in ca-prev (its CA certificate
    # as ca-cert.pem, ca.pem there would be the bundle).
    cp -a "$DIR/ca" "$DIR/.ca-prev.tmp"
    old_cert=$(pki_ca_cert "$DIR/.ca-prev.tmp")
    openssl x509 -in "$old_cert" -out "$DIR/.ca-prev.tmp/ca-cert.pem.new"
    mv -f "$DIR/.ca-prev.tmp/ca-cert.pem.new" "$DIR/.ca-prev.tmp/ca-cert.pem"
    sed -i 's|^\([[:space:]]*certificate[[:space:]]*=[[:space:]]*\)\$dir/.*|\1$dir/ca-cert.pem|' \
      "$DIR/.ca-prev.tmp/ca.cnf"
    rm -f "$DIR/.ca-prev.tmp/ca.pem"
    mv "$DIR/.ca-prev.tmp" "$DIR/ca-prev"
    # Swap the database in DIR/ca; ca.pem (what processes read) stays put.
    find "$DIR/ca" -mindepth 1 -maxdepth 1 ! -name ca.pem -exec rm -rf {} +
    find "$DIR/.ca-next" -mindepth 1 -maxdepth 1 -exec mv {} "$DIR/ca/" \;
    rmdir "$DIR/.ca-next"
    cat "$DIR/ca/ca-cert.pem" "$DIR/ca-prev/ca-cert.pem" | pki_write_atomic "$DIR/ca/ca.pem"
    pki_say "new issuing CA 'Tongban Dev Federation CA $stamp'; $DIR/ca/ca.pem now trusts new + old"
    pki_publish_crl "$DIR" "$DIR/ca" "$CRL_DAYS"
    pki_publish_crl "$DIR" "$DIR/ca-prev" "$CRL_DAYS"
    if ((REISSUE)); then
      if ((SETTLE > 0)); then
        pki_say "waiting $SETTLE s until every process has re-read the bundle (--settle)..."
        sleep "$SETTLE"
      fi
      reissue_all
    else
      pki_say "leaf certificates not re-issued (--no-reissue): run '$0 reissue --out $DIR' after every process has re-read ca.pem"
    fi
    ;;
  reissue)
    pki_lock "$DIR"
    reissue_all
    ;;
  phase2)
    pki_lock "$DIR"
    [[ -s $DIR/ca-prev/ca.cnf ]] || pki_die "no rotation in progress ($DIR/ca-prev missing): run phase1 first"
    new_ca=$(pki_ca_cert "$DIR/ca")
    old_ca=$(pki_ca_cert "$DIR/ca-prev")
    stale=()
    while read -r -a kind; do
      pki_leaf_spec "$DIR" "${kind[@]}"
      pki_issued_by "$LEAF_DIR/cert.pem" "$new_ca" || stale+=("$LEAF_DIR")
    done < <(pki_list_leaves "$DIR")
    if ((${#stale[@]})); then
      printf '  %s\n' "${stale[@]}" >&2
      if ((FORCE)); then
        echo "rotate-ca.sh: --force: ${#stale[@]} certificates above stop working" >&2
      else
        pki_die "${#stale[@]} certificates above are not from the new CA (run '$0 reissue' or use --force)"
      fi
    fi
    openssl x509 -in "$new_ca" | pki_write_atomic "$DIR/ca/ca.pem"
    pki_say "$DIR/ca/ca.pem now trusts only the new CA"
    old_hash=$(openssl x509 -noout -subject_hash -in "$old_ca")
    new_hash=$(openssl x509 -noout -subject_hash -in "$new_ca")
    if [[ -d $DIR/crl && $old_hash != "$new_hash" ]]; then
      rm -f "$DIR/crl/$old_hash".r[0-9]* "$DIR/crl/ca-prev.crl.pem"
    fi
    retired=$DIR/ca-retired-$(date -u +%Y%m%dT%H%M%SZ)
    mv "$DIR/ca-prev" "$retired"
    pki_say "old CA retired to $retired (keep for audit or destroy ca.key)"
    ;;
esac
