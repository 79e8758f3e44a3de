#!/usr/bin/env bash
# Generate the Tongban development PKI (federation CA, gateway, 31 province
# nodes, 2 officers and 1 operator per province, optional negative-test
# certificates) and
# the dev key pair that signs citizen bearer tokens (tongbanctl token mint).
# DEV ONLY: keys are created locally and must never be committed or deployed.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: certs/gen-dev-certs.sh [--out DIR] [--with-test-certs] [--force] [--help]

Generate the Tongban dev PKI (ECDSA P-256, SHA-256) and the citizen-token
signing key pair (DIR/citizen-tokens/) into DIR (default: <repo>/certs/dev).
Existing certificates and keys are kept; only missing ones are generated, so
re-running is cheap and safe.

  --out DIR          write the PKI to DIR instead of <repo>/certs/dev
  --with-test-certs  also write negative-test certificates under DIR/test/
  --force            delete the generated PKI and token keys in DIR and start over
  --help             show this help
EOF
}

# Province codes (GB/T 2260), copied from shared/data/provinces.tsv.
PROVINCES=(110000 120000 130000 140000 150000 210000 220000 230000 310000
  320000 330000 340000 350000 360000 370000 410000 420000 430000 440000
  450000 460000 500000 510000 520000 530000 540000 610000 620000 630000
  640000 650000)
OFFICERS=(officer-01 officer-02)
OPERATORS=(operator-01)

OUT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/dev"
WITH_TEST=0 FORCE=0
while (($#)); do
  case $1 in
    --out) [[ $# -ge 2 ]] || { usage >&2; exit 2; }; OUT=$2; shift 2 ;;
    --with-test-certs) WITH_TEST=1; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done

say() { echo "gen-dev-certs: $*"; }
command -v openssl >/dev/null || { echo "openssl not found" >&2; exit 1; }
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)   # absolute: signing runs from inside the CA dir
CA=$OUT/ca

# Serialize concurrent runs (e.g. parallel test fixtures): `openssl ca`
# rewrites index.txt and two writers would corrupt it. Append-mode open so
# an up-to-date run does not even touch the lock file's mtime.
if command -v flock >/dev/null; then exec 9>>"$OUT/.lock"; flock 9; fi

WORK=$(mktemp -d)          # CSRs and logs only; keys never go here
trap 'rm -rf "$WORK"' EXIT

# Run a command quietly (openssl is chatty on stderr); show output on failure.
run() {
  if ! "$@" >"$WORK/log" 2>&1; then
    cat "$WORK/log" >&2; echo "gen-dev-certs: failed: $*" >&2; exit 1
  fi
}

new_key() { run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"; chmod 600 "$1"; }

# Move key then cert into place. cert.pem is the completion marker: whoever
# sees it also sees its matching key, and a crash leaves no cert.pem behind.
commit_pair() {  # DIR KEYNAME CERTNAME
  mv -f "$1/$2.tmp" "$1/$2"; mv -f "$1/$3.tmp" "$1/$3"
}

# Create a CA with an `openssl ca` database so later scripts can revoke and
# issue CRLs (run them from inside the CA dir: paths in ca.cnf are relative).
make_ca() {  # DIR CN
  local d=$1 cn=$2
  mkdir -p "$d/newcerts"
  : >"$d/index.txt"
  echo 'unique_subject = no' >"$d/index.txt.attr"   # allow re-issuing a lost cert
  openssl rand -hex 16 >"$d/serial"                 # only used if -rand_serial is not
  echo 1000 >"$d/crlnumber"
  cat >"$d/ca.cnf" <<'EOF'
# Dev CA config. Relative paths: run `openssl ca -config ca.cnf ...` from this dir.
[ca]
default_ca = tb_ca
[tb_ca]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 825
default_crl_days = 30
policy = tb_policy
email_in_dn = no
copy_extensions = none
[tb_policy]
commonName = supplied
[req]
distinguished_name = tb_dn
x509_extensions = tb_ca_ext
prompt = no
[tb_dn]
[tb_ca_ext]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
  new_key "$d/ca.key.tmp"
  run openssl req -new -x509 -config "$d/ca.cnf" -key "$d/ca.key.tmp" \
    -subj "/CN=$cn" -days 3650 -sha256 -out "$d/ca.pem.tmp"
  commit_pair "$d" ca.key ca.pem
}

# Leaf extensions; per-certificate SAN and EKU come from the environment so
# one file serves every leaf (the ${ENV::} refs are resolved at load time).
cat >"$WORK/leaf.cnf" <<'EOF'
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = ${ENV::TB_EKU}
subjectAltName = ${ENV::TB_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF

# Issue DEST/cert.pem + DEST/key.pem signed by the CA in CADIR, unless present.
issue() {  # CADIR DEST CN SAN EKU [extra `openssl ca` args, e.g. dates]
  local cadir=$1 dest=$2 cn=$3 san=$4 eku=$5; shift 5
  [[ -s $dest/cert.pem ]] && return 0
  mkdir -p "$dest"
  new_key "$dest/key.pem.tmp"
  run openssl req -new -key "$dest/key.pem.tmp" -subj "/CN=$cn" -out "$WORK/req.csr"
  # Random serials: a regenerated CA has the same DN, and reusing
  # issuer+serial pairs makes some TLS clients refuse the cert outright.
  (cd "$cadir" && TB_SAN=$san TB_EKU=$eku run openssl ca -batch -config ca.cnf \
    -notext -rand_serial -extfile "$WORK/leaf.cnf" -extensions leaf \
    -in "$WORK/req.csr" -out "$dest/cert.pem.tmp" "$@")
  commit_pair "$dest" key.pem cert.pem
}

missing() { [[ ! -s $1/cert.pem ]]; }
SERVER=serverAuth,clientAuth CLIENT=clientAuth

if ((FORCE)); then
  say "--force: removing existing PKI in $OUT"
  rm -rf "$CA" "$OUT/gateway" "$OUT/province" "$OUT/test" "$OUT/citizen-tokens" "$OUT/README.txt"
fi

if [[ ! -s $CA/ca.pem ]]; then
  say "generating federation CA..."
  # Anything left from an earlier CA would no longer chain: drop it.
  rm -rf "$CA" "$OUT/gateway" "$OUT/province" "$OUT/test"
  make_ca "$CA" "Tongban Dev Federation CA"
fi

if missing "$OUT/gateway"; then
  say "generating gateway certificate..."
  issue "$CA" "$OUT/gateway" tongban-gateway \
    "URI:spiffe://tongban/gateway,DNS:localhost,DNS:tongban-gateway,IP:127.0.0.1" "$SERVER"
fi

todo=()
for p in "${PROVINCES[@]}"; do missing "$OUT/province/$p/node" && todo+=("$p"); done
if ((${#todo[@]})); then
  say "generating ${#todo[@]} node certificates..."
  for p in "${todo[@]}"; do
    issue "$CA" "$OUT/province/$p/node" "tongban-node-$p" \
      "URI:spiffe://tongban/province/$p,DNS:localhost,DNS:tongban-node-$p,IP:127.0.0.1" "$SERVER"
  done
fi

todo=()
for p in "${PROVINCES[@]}"; do
  for o in "${OFFICERS[@]}"; do missing "$OUT/province/$p/officer/$o" && todo+=("$p/$o"); done
done
if ((${#todo[@]})); then
  say "generating ${#todo[@]} officer certificates..."
  for po in "${todo[@]}"; do
    p=${po%%/*} o=${po#*/}
    issue "$CA" "$OUT/province/$p/officer/$o" "$o@$p" \
      "URI:spiffe://tongban/province/$p/officer/$o" "$CLIENT"
  done
fi

todo=()
for p in "${PROVINCES[@]}"; do
  for o in "${OPERATORS[@]}"; do missing "$OUT/province/$p/operator/$o" && todo+=("$p/$o"); done
done
if ((${#todo[@]})); then
  say "generating ${#todo[@]} operator certificates..."
  for po in "${todo[@]}"; do
    p=${po%%/*} o=${po#*/}
    issue "$CA" "$OUT/province/$p/operator/$o" "operator $o@$p" \
      "URI:spiffe://tongban/province/$p/operator/$o" "$CLIENT"
  done
fi

# Citizen-token signing key pair (ES256): the private key mints dev tokens
# (tongbanctl token mint), the gateway verifies them with the public key
# (SubjectPublicKeyInfo). Independent of the CA, so a new CA keeps it. A lost
# signing key means a new pair (the old public key is removed first, so a
# crash never leaves a mismatched pair); a lost public key is derived again,
# so tokens minted earlier still verify.
TK=$OUT/citizen-tokens
if [[ ! -s $TK/signing-key.pem ]]; then
  say "generating citizen-token signing key pair..."
  mkdir -p "$TK"
  rm -f "$TK/public-key.pem"
  new_key "$TK/signing-key.pem.tmp"
  run openssl pkey -in "$TK/signing-key.pem.tmp" -pubout -out "$TK/public-key.pem.tmp"
  commit_pair "$TK" signing-key.pem public-key.pem
elif [[ ! -s $TK/public-key.pem ]]; then
  say "deriving the citizen-token public key..."
  run openssl pkey -in "$TK/signing-key.pem" -pubout -out "$TK/public-key.pem.tmp"
  mv -f "$TK/public-key.pem.tmp" "$TK/public-key.pem"
fi

if ((WITH_TEST)); then
  T=$OUT/test
  if [[ ! -s $T/other-ca/ca.pem ]]; then
    say "generating untrusted other CA..."
    rm -rf "$T/other-ca" "$T/other-ca-officer"
    make_ca "$T/other-ca" "Untrusted Other CA"
  fi
  todo=()
  for t in other-ca-officer expired-officer no-identity foreign-uri dns-gateway email-gateway \
    uri-and-dns-gateway officer-with-dns-gateway two-uris; do
    missing "$T/$t" && todo+=("$t")
  done
  ((${#todo[@]} == 0)) || say "generating ${#todo[@]} test certificates..."
  # Correct-looking officer identity, but from a CA the federation does not trust.
  issue "$T/other-ca" "$T/other-ca-officer" officer-01@440000 \
    "URI:spiffe://tongban/province/440000/officer/officer-01" "$CLIENT"
  # Valid chain, validity window entirely in the past (x509 in 3.0 has no -not_before).
  issue "$CA" "$T/expired-officer" officer-09@440000 \
    "URI:spiffe://tongban/province/440000/officer/officer-09" "$CLIENT" \
    -startdate 20200101000000Z -enddate 20200201000000Z
  # Valid chain, but no URI SAN at all: must not map to any identity.
  issue "$CA" "$T/no-identity" no-identity "DNS:localhost" "$CLIENT"
  # Valid chain, URI SAN outside the spiffe://tongban trust domain.
  issue "$CA" "$T/foreign-uri" foreign-uri "URI:spiffe://elsewhere/thing" "$CLIENT"
  # Only URI SANs name an identity: the gateway's id as DNS or e-mail text is nobody.
  issue "$CA" "$T/dns-gateway" dns-gateway "DNS:spiffe://tongban/gateway" "$CLIENT"
  issue "$CA" "$T/email-gateway" email-gateway "email:spiffe://tongban/gateway" "$CLIENT"
  # The gateway's URI, repeated as DNS text: the gateway (the DNS SAN is not read).
  issue "$CA" "$T/uri-and-dns-gateway" uri-and-dns-gateway \
    "URI:spiffe://tongban/gateway,DNS:spiffe://tongban/gateway" "$CLIENT"
  # An officer's URI with the gateway's id as DNS text: that officer, never the gateway.
  issue "$CA" "$T/officer-with-dns-gateway" officer-03@440000 \
    "URI:spiffe://tongban/province/440000/officer/officer-03,DNS:spiffe://tongban/gateway" "$CLIENT"
  # Two URI SANs (the gateway's and another): ambiguous, nobody.
  issue "$CA" "$T/two-uris" two-uris "URI:spiffe://tongban/gateway,URI:https://gateway.example" \
    "$CLIENT"
fi

# Rewritten when missing or older than the operator certificates it lists.
if [[ ! -s $OUT/README.txt ]] || ! grep -q operator-01 "$OUT/README.txt"; then
  cat >"$OUT/README.txt.tmp" <<'EOF'
Tongban dev PKI (generated by certs/gen-dev-certs.sh; DEV ONLY, never commit).
ca/ca.pem, ca/ca.key                     federation root CA (+ openssl ca db: ca.cnf, index.txt, serial, crlnumber, newcerts/)
gateway/cert.pem, key.pem                spiffe://tongban/gateway  (serverAuth, clientAuth)
province/<code>/node/cert.pem, key.pem   spiffe://tongban/province/<code>  (serverAuth, clientAuth)
province/<code>/officer/officer-0N/...   spiffe://tongban/province/<code>/officer/officer-0N  (clientAuth)
province/<code>/operator/operator-01/... spiffe://tongban/province/<code>/operator/operator-01  (clientAuth; runs the node, no officer)
test/ (only with --with-test-certs)      other-ca/, other-ca-officer/, expired-officer/, no-identity/, foreign-uri/,
                                         dns-gateway/, email-gateway/, uri-and-dns-gateway/,
                                         officer-with-dns-gateway/, two-uris/
citizen-tokens/signing-key.pem           citizen-token signing key (EC P-256; tongbanctl token mint --key)
citizen-tokens/public-key.pem            its public key, for the gateway (public_edge.tokens.keys, kid dev-1)
Renew: certs/issue.sh; revoke: certs/revoke.sh; CA rotation: certs/rotate-ca.sh (see certs/README.md)
EOF
  mv -f "$OUT/README.txt.tmp" "$OUT/README.txt"
fi

say "dev PKI ready in $OUT"
