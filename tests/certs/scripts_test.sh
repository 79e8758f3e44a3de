#!/usr/bin/env bash
# certs.scripts: the command-line contract of certs/issue.sh, revoke.sh and
# rotate-ca.sh on a private copy of the test PKI.
# Usage: scripts_test.sh <repo>/certs <test-pki> <tmp-root>
set -euo pipefail
CERTS=$1 SRC=$2 TMPROOT=$3
mkdir -p "$TMPROOT"
T=$(mktemp -d "$TMPROOT/certs-scripts-XXXXXX")
trap 'rm -rf "$T"' EXIT
cp -a "$SRC" "$T/pki"; rm -f "$T/pki/.lock"
P=$T/pki
fails=0
check() {  # description command...
  local what=$1; shift
  if "$@" >"$T/out" 2>&1; then echo "ok   $what"; else echo "FAIL $what"; sed 's/^/     /' "$T/out"; fails=$((fails + 1)); fi
}
fails_with() {  # code command...
  local want=$1 rc=0; shift
  "$@" >"$T/out2" 2>&1 || rc=$?
  [[ $rc == "$want" ]] || { cat "$T/out2"; echo "exit $rc, want $want"; return 1; }
}
ca_verify() { openssl verify -CAfile "$P/ca/ca.pem" "$@"; }
serial() { openssl x509 -noout -serial -in "$1"; }

for s in issue.sh revoke.sh rotate-ca.sh; do
  check "$s --help exits 0" bash -c "'$CERTS/$s' --help | grep -q Usage"
  check "$s without arguments exits 2" fails_with 2 "$CERTS/$s"
done
check "issue.sh rejects a bad province" fails_with 1 "$CERTS/issue.sh" node 44 --out "$P"
check "issue.sh rejects a bad officer id" fails_with 1 "$CERTS/issue.sh" officer 440000 'Bad Id' --out "$P"
check "issue.sh rejects a bad operator id" fails_with 1 "$CERTS/issue.sh" operator 440000 'op_1' --out "$P"
check "issue.sh operator needs an operator id" fails_with 2 "$CERTS/issue.sh" operator 440000 --out "$P"
check "issue.sh rejects an unknown kind" fails_with 2 "$CERTS/issue.sh" citizen --out "$P"
check "issue.sh rejects a directory that is no PKI" fails_with 1 "$CERTS/issue.sh" gateway --out "$T"

old=$(serial "$P/province/440000/node/cert.pem")
check "issue.sh renews a node" "$CERTS/issue.sh" node 440000 --days 30 --out "$P"
check "renewed cert has a new serial" bash -c "[[ '$(serial "$P/province/440000/node/cert.pem")' != '$old' ]]"
check "renewed cert and key are symlinks through ..data" bash -c \
  "[[ -L '$P/province/440000/node/cert.pem' && -L '$P/province/440000/node/key.pem' && -L '$P/province/440000/node/..data' ]]"
check "renewed cert chains and carries the node identity" bash -c \
  "openssl verify -CAfile '$P/ca/ca.pem' '$P/province/440000/node/cert.pem' && openssl x509 -noout -ext subjectAltName,extendedKeyUsage -in '$P/province/440000/node/cert.pem' | grep -q 'URI:spiffe://tongban/province/440000' && openssl x509 -noout -ext extendedKeyUsage -in '$P/province/440000/node/cert.pem' | grep -q 'TLS Web Server Authentication'"
check "renewed key matches the cert" bash -c \
  "[[ \$(openssl pkey -pubout -in '$P/province/440000/node/key.pem' | sha256sum) == \$(openssl x509 -pubkey -noout -in '$P/province/440000/node/cert.pem' | sha256sum) ]]"
check "renewal validity is --days" bash -c \
  "openssl x509 -checkend \$((29 * 86400)) -noout -in '$P/province/440000/node/cert.pem' && ! openssl x509 -checkend \$((31 * 86400)) -noout -in '$P/province/440000/node/cert.pem'"
"$CERTS/issue.sh" node 440000 --out "$P" >/dev/null
"$CERTS/issue.sh" node 440000 --out "$P" >/dev/null
check "only the current and the previous version are kept" bash -c \
  "[[ \$(ls -d '$P/province/440000/node'/.v-* | wc -l) == 2 ]]"
check "issue.sh issues a new officer (clientAuth only)" bash -c \
  "'$CERTS/issue.sh' officer 440000 officer-09 --out '$P' && openssl x509 -noout -ext extendedKeyUsage -in '$P/province/440000/officer/officer-09/cert.pem' | grep -q 'TLS Web Client Authentication' && ! openssl x509 -noout -ext extendedKeyUsage -in '$P/province/440000/officer/officer-09/cert.pem' | grep -q Server"
check "gen-dev-certs made operator-01 of every province" bash -c \
  "[[ \$(ls '$P'/province/*/operator/operator-01/cert.pem | wc -l) == 31 ]] && openssl x509 -noout -ext subjectAltName -in '$P/province/650000/operator/operator-01/cert.pem' | grep -qx '[[:space:]]*URI:spiffe://tongban/province/650000/operator/operator-01'"
check "issue.sh issues an operator (one URI SAN, clientAuth only)" bash -c \
  "'$CERTS/issue.sh' operator 440000 ops-zhang --out '$P' && ca_verify() { openssl verify -CAfile '$P/ca/ca.pem' \"\$@\"; } && ca_verify '$P/province/440000/operator/ops-zhang/cert.pem' && openssl x509 -noout -ext subjectAltName -in '$P/province/440000/operator/ops-zhang/cert.pem' | grep -qx '[[:space:]]*URI:spiffe://tongban/province/440000/operator/ops-zhang' && openssl x509 -noout -ext extendedKeyUsage -in '$P/province/440000/operator/ops-zhang/cert.pem' | grep -q 'TLS Web Client Authentication' && ! openssl x509 -noout -ext extendedKeyUsage -in '$P/province/440000/operator/ops-zhang/cert.pem' | grep -q Server"

check "revoke.sh revokes and publishes <hash>.r0" "$CERTS/revoke.sh" "$P/province/440000/officer/officer-01/cert.pem" --reason keyCompromise --out "$P"
H=$(openssl x509 -noout -subject_hash -in "$P/ca/ca.pem")
check "CRL is named by the CA's hash and lists the serial" bash -c \
  "[[ -s '$P/crl/$H.r0' && -s '$P/crl/ca.crl.pem' ]] && openssl crl -noout -text -in '$P/crl/$H.r0' | grep -q \"\$(openssl x509 -noout -serial -in '$P/province/440000/officer/officer-01/cert.pem' | cut -d= -f2)\""
check "CRL validity is 7 days" bash -c \
  "openssl crl -noout -nextupdate -in '$P/crl/$H.r0' | grep -q \"\$(date -u -d '+7 days' '+%b %e')\""
check "openssl rejects the revoked cert with the CRL" bash -c \
  "! openssl verify -crl_check -CAfile '$P/ca/ca.pem' -CRLfile '$P/crl/$H.r0' '$P/province/440000/officer/officer-01/cert.pem' && openssl verify -crl_check -CAfile '$P/ca/ca.pem' -CRLfile '$P/crl/$H.r0' '$P/province/440000/officer/officer-02/cert.pem'"
check "revoking again is harmless and adds .r1" bash -c \
  "'$CERTS/revoke.sh' '$P/province/440000/officer/officer-01/cert.pem' --out '$P' | grep -q 'already revoked' && [[ -s '$P/crl/$H.r1' ]]"
lu() { date -u -d "$(openssl crl -noout -lastupdate -in "$1" | cut -d= -f2)" +%s; }
check "a CRL published right after another is strictly newer (OpenSSL picks the newest)" bash -c \
  "[[ $(lu "$P/crl/$H.r1") -gt $(lu "$P/crl/$H.r0") ]]"
check "--refresh-crl adds .r2" bash -c "'$CERTS/revoke.sh' --refresh-crl --out '$P' && [[ -s '$P/crl/$H.r2' ]]"
check "revoke.sh refuses a cert of another CA" fails_with 1 "$CERTS/revoke.sh" "$P/test/other-ca/ca.pem" --out "$P"
check "revoke.sh refuses cert and --refresh-crl together" fails_with 2 "$CERTS/revoke.sh" "$P/gateway/cert.pem" --refresh-crl --out "$P"

# The rotation re-issues every leaf: keep two provinces (134 leaves -> 10) so
# that this stays a test of the script, not of openssl's speed.
find "$P/province" -mindepth 1 -maxdepth 1 ! -name 110000 ! -name 440000 -exec rm -rf {} +
check "rotate-ca.sh phase2 refuses without phase1" fails_with 1 "$CERTS/rotate-ca.sh" phase2 --out "$P"
cp "$P/province/110000/officer/officer-01/cert.pem" "$T/old-officer.pem"
check "phase1 --no-reissue" "$CERTS/rotate-ca.sh" phase1 --no-reissue --out "$P"
check "bundle holds two CAs" bash -c "[[ \$(grep -c 'BEGIN CERTIFICATE' '$P/ca/ca.pem') == 2 ]]"
check "phase1 twice is refused" fails_with 1 "$CERTS/rotate-ca.sh" phase1 --out "$P"
check "both CAs have a CRL" bash -c "[[ -s '$P/crl/ca.crl.pem' && -s '$P/crl/ca-prev.crl.pem' ]]"
check "phase2 refuses while leaves are from the old CA" fails_with 1 "$CERTS/rotate-ca.sh" phase2 --out "$P"
check "reissue" "$CERTS/rotate-ca.sh" reissue --out "$P"
check "every leaf chains to the new CA alone" bash -c \
  "for c in '$P'/gateway/cert.pem '$P'/province/*/node/cert.pem '$P'/province/*/officer/*/cert.pem; do openssl verify -CAfile '$P/ca/ca-cert.pem' \"\$c\" >/dev/null || exit 1; done"
check "old CA can still revoke during the rotation" "$CERTS/revoke.sh" "$T/old-officer.pem" --out "$P"
check "phase2" "$CERTS/rotate-ca.sh" phase2 --out "$P"
check "bundle holds one CA; old leaf no longer chains" bash -c \
  "[[ \$(grep -c 'BEGIN CERTIFICATE' '$P/ca/ca.pem') == 1 ]] && ! openssl verify -CAfile '$P/ca/ca.pem' '$T/old-officer.pem' && [[ ! -e '$P/ca-prev' && ! -e '$P/crl/$H.r0' ]]"
check "issue.sh uses the new CA after the rotation" bash -c \
  "'$CERTS/issue.sh' officer 440000 officer-10 --out '$P' && openssl verify -CAfile '$P/ca/ca.pem' '$P/province/440000/officer/officer-10/cert.pem'"
check "gen-dev-certs.sh still works on the rotated PKI" "$CERTS/gen-dev-certs.sh" --out "$P"

echo
((fails == 0)) && echo "all checks passed" || { echo "$fails checks failed"; exit 1; }
