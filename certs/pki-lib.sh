# Shared functions of the certs/ scripts (issue.sh, revoke.sh, rotate-ca.sh).
# Sourced, not run. Works on the PKI layout of gen-dev-certs.sh:
#
#   DIR/ca/ca.pem            trust bundle every process reads (tls.ca_file)
#   DIR/ca/                  the issuing CA's `openssl ca` database (ca.cnf,
#                            ca.key, index.txt, serial, crlnumber, newcerts/);
#                            the CA certificate itself is `certificate` in
#                            ca.cnf: ca.pem as generated, ca-cert.pem once the
#                            CA has been rotated (ca.pem is then a bundle)
#   DIR/ca-prev/             the previous CA's database during a CA rotation
#   DIR/crl/                 CRLs: <issuer-hash>.r<n> (tls.crl_directory) and
#                            <ca-dir-name>.crl.pem, the newest CRL of each CA
#   DIR/<leaf>/cert.pem,key.pem   see pki_leaf_dir; after issue.sh these are
#                            symlinks through DIR/<leaf>/..data (see
#                            pki_install_pair) so key and cert swap together
#
# Every function that changes the PKI must run under pki_lock (the same lock
# as gen-dev-certs.sh: `openssl ca` rewrites index.txt non-atomically).

PKI_SCRIPTS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PKI_DEFAULT_DIR="$PKI_SCRIPTS_DIR/dev"
PKI_PROG=${PKI_PROG:-pki}
PKI_SERVER_EKU=serverAuth,clientAuth
PKI_CLIENT_EKU=clientAuth

pki_die() { echo "$PKI_PROG: $*" >&2; exit 1; }
pki_say() { echo "$PKI_PROG: $*"; }

# Creates PKI_WORK (scratch space for CSRs and logs, never keys) and removes
# it on exit.
pki_init() {
  command -v openssl >/dev/null || pki_die "openssl not found"
  PKI_WORK=$(mktemp -d)
  trap 'rm -rf "$PKI_WORK"' EXIT
  cat >"$PKI_WORK/leaf.cnf" <<'EOF'
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature
extendedKeyUsage = ${ENV::TB_EKU}
subjectAltName = ${ENV::TB_SAN}
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
EOF
}

# Runs a command quietly (openssl is chatty on stderr); shows the output and
# exits on failure.
pki_run() {
  if ! "$@" >"$PKI_WORK/log" 2>&1; then
    cat "$PKI_WORK/log" >&2
    pki_die "failed: $*"
  fi
}

# pki_resolve_dir DIR: absolute path of an existing PKI (has ca/ca.cnf).
pki_resolve_dir() {
  local d=$1
  [[ -d $d ]] || pki_die "no PKI directory $d (create one with certs/gen-dev-certs.sh --out $d)"
  d=$(cd "$d" && pwd)
  [[ -s $d/ca/ca.cnf && -s $d/ca/ca.key ]] ||
    pki_die "$d/ca is not an openssl ca database (ca.cnf, ca.key): not a PKI made by gen-dev-certs.sh"
  echo "$d"
}

# Serializes with gen-dev-certs.sh and the other scripts.
pki_lock() {  # DIR
  if command -v flock >/dev/null; then exec 9>>"$1/.lock"; flock 9; fi
}

pki_new_key() {  # PATH
  pki_run openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1"
  chmod 600 "$1"
}

# The CA certificate (not the bundle) of the CA database in CADIR: the
# `certificate` key of its ca.cnf.
pki_ca_cert() {  # CADIR
  local f
  f=$(sed -n 's/^[[:space:]]*certificate[[:space:]]*=[[:space:]]*\$dir\/\([^[:space:]]*\).*/\1/p' "$1/ca.cnf" | head -n1)
  [[ -n $f ]] || pki_die "$1/ca.cnf has no 'certificate = \$dir/...' line"
  echo "$1/$f"
}

# Makes sure ca.cnf has a CRL extensions section (authorityKeyIdentifier, so
# a verifier can tell two CAs' CRLs apart) and echoes its name.
pki_crl_ext() {  # CADIR
  if ! grep -q '^\[tb_crl_ext\]' "$1/ca.cnf"; then
    printf '\n[tb_crl_ext]\nauthorityKeyIdentifier = keyid:always\n' >>"$1/ca.cnf"
  fi
  echo tb_crl_ext
}

# Validation of the names that end up in paths and SANs.
pki_check_province() {
  [[ $1 =~ ^[0-9]{6}$ ]] || pki_die "province code must be 6 digits (GB/T 2260), got '$1'"
}
pki_check_officer() {
  [[ $1 =~ ^[a-z0-9-]{1,32}$ ]] || pki_die "officer id must be 1..32 of [a-z0-9-], got '$1'"
}
pki_check_operator() {
  [[ $1 =~ ^[a-z0-9-]{1,32}$ ]] || pki_die "operator id must be 1..32 of [a-z0-9-], got '$1'"
}

# Sets LEAF_DIR, LEAF_CN, LEAF_SAN, LEAF_EKU for an identity:
#   pki_leaf_spec DIR node <province> | officer <province> <officer-id>
#                 | operator <province> <operator-id> | gateway
pki_leaf_spec() {
  local dir=$1 kind=$2
  case $kind in
    node)
      pki_check_province "$3"
      LEAF_DIR=$dir/province/$3/node LEAF_CN=tongban-node-$3 LEAF_EKU=$PKI_SERVER_EKU
      LEAF_SAN="URI:spiffe://tongban/province/$3,DNS:localhost,DNS:tongban-node-$3,IP:127.0.0.1" ;;
    officer)
      pki_check_province "$3"; pki_check_officer "$4"
      LEAF_DIR=$dir/province/$3/officer/$4 LEAF_CN=$4@$3 LEAF_EKU=$PKI_CLIENT_EKU
      LEAF_SAN="URI:spiffe://tongban/province/$3/officer/$4" ;;
    operator)
      pki_check_province "$3"; pki_check_operator "$4"
      LEAF_DIR=$dir/province/$3/operator/$4 LEAF_CN="operator $4@$3" LEAF_EKU=$PKI_CLIENT_EKU
      LEAF_SAN="URI:spiffe://tongban/province/$3/operator/$4" ;;
    gateway)
      LEAF_DIR=$dir/gateway LEAF_CN=tongban-gateway LEAF_EKU=$PKI_SERVER_EKU
      LEAF_SAN="URI:spiffe://tongban/gateway,DNS:localhost,DNS:tongban-gateway,IP:127.0.0.1" ;;
    *) pki_die "unknown identity kind '$kind' (node, officer, operator, gateway)" ;;
  esac
}

# Every leaf identity of the PKI as "kind args..." lines (test/ excluded:
# those certificates are deliberately broken).
pki_list_leaves() {  # DIR
  local dir=$1 p o
  [[ -e $dir/gateway/cert.pem ]] && echo gateway
  for p in "$dir"/province/*/; do
    [[ -d $p ]] || continue
    p=$(basename "$p")
    [[ -e $dir/province/$p/node/cert.pem ]] && echo "node $p"
    for o in "$dir/province/$p/officer"/*/; do
      [[ -e $o/cert.pem ]] && echo "officer $p $(basename "$o")"
    done
    for o in "$dir/province/$p/operator"/*/; do
      [[ -e $o/cert.pem ]] && echo "operator $p $(basename "$o")"
    done
  done
  return 0
}

# Signs a new key's CSR with the CA in CADIR; writes OUTDIR/key.pem and
# OUTDIR/cert.pem. Extra args go to `openssl ca` (e.g. -days N).
pki_issue_into() {  # CADIR OUTDIR CN SAN EKU [openssl ca args...]
  local cadir=$1 out=$2 cn=$3 san=$4 eku=$5; shift 5
  mkdir -p "$out"
  pki_new_key "$out/key.pem"
  pki_run openssl req -new -key "$out/key.pem" -subj "/CN=$cn" -out "$PKI_WORK/req.csr"
  # Random serials (as gen-dev-certs.sh): a re-issued cert never reuses one.
  (cd "$cadir" && TB_SAN=$san TB_EKU=$eku pki_run openssl ca -batch -config ca.cnf \
    -notext -rand_serial -extfile "$PKI_WORK/leaf.cnf" -extensions leaf \
    -in "$PKI_WORK/req.csr" -out "$out/cert.pem" "$@")
}

# Atomic replacement of a key+certificate pair that running processes watch.
# LEAF/cert.pem and LEAF/key.pem become symlinks into LEAF/..data, itself a
# symlink to a version directory LEAF/.v-<time>; swapping ..data (one
# rename(2)) switches key and certificate at once, so a reader never sees a
# new certificate with an old key (the Kubernetes secret-volume layout).
# The first call converts plain files without changing what they contain.
# Keeps the current and the previous version (for rollback); older ones go.
pki_install_pair() {  # LEAF NEWKEY NEWCERT
  local leaf=$1 key=$2 cert=$3 ver
  mkdir -p "$leaf"
  ver=.v-$(date -u +%Y%m%dT%H%M%S)-$$-$RANDOM
  mkdir "$leaf/$ver.tmp"
  cp "$key" "$leaf/$ver.tmp/key.pem"; chmod 600 "$leaf/$ver.tmp/key.pem"
  cp "$cert" "$leaf/$ver.tmp/cert.pem"; chmod 644 "$leaf/$ver.tmp/cert.pem"
  mv "$leaf/$ver.tmp" "$leaf/$ver"
  local f
  for f in key.pem cert.pem; do   # key first: cert.pem marks a complete pair
    if [[ -e $leaf/$f && ! -L $leaf/$f ]]; then
      # Plain files from gen-dev-certs.sh: freeze them into a version of
      # their own first, so converting to symlinks changes no content.
      if [[ ! -L $leaf/..data ]]; then
        local init=.v-initial-$$-$RANDOM
        mkdir "$leaf/$init.tmp"
        cp -p "$leaf/key.pem" "$leaf/cert.pem" "$leaf/$init.tmp/"
        mv "$leaf/$init.tmp" "$leaf/$init"
        ln -s "$init" "$leaf/..data.tmp" && mv -T "$leaf/..data.tmp" "$leaf/..data"
      fi
      ln -s "..data/$f" "$leaf/$f.tmp" && mv -T "$leaf/$f.tmp" "$leaf/$f"
    fi
  done
  ln -sfn "$ver" "$leaf/..data.tmp" && mv -T "$leaf/..data.tmp" "$leaf/..data"
  for f in key.pem cert.pem; do
    [[ -L $leaf/$f ]] || { ln -s "..data/$f" "$leaf/$f.tmp" && mv -T "$leaf/$f.tmp" "$leaf/$f"; }
  done
  # Prune: keep the version ..data points at and the newest other one.
  local keep_prev
  keep_prev=$(cd "$leaf" && ls -1dt .v-* 2>/dev/null | grep -vx "$ver" | head -n1 || true)
  local v
  for v in "$leaf"/.v-*; do
    [[ -d $v ]] || continue
    v=$(basename "$v")
    [[ $v == "$ver" || $v == "$keep_prev" ]] && continue
    rm -rf "${leaf:?}/$v"
  done
}

# One line about a certificate: serial, notAfter, issuer CN.
pki_describe() {  # CERT
  openssl x509 -noout -serial -enddate -issuer -nameopt oneline -in "$1" | tr '\n' ' ' |
    sed 's/ $//'
}

# Generates a fresh CRL for the CA in CADIR, valid DAYS days, and publishes it
# into DIR/crl: as <hash>.r<n> with n one above the highest present (a
# running gRPC/OpenSSL process re-reads the directory only for suffixes it
# has not loaded yet; overwriting an already loaded <hash>.r<n> is never
# seen, see docs/operations.md) and as <cadirname>.crl.pem.
pki_publish_crl() {  # DIR CADIR DAYS
  local dir=$1 cadir=$2 days=$3 ext hash n crldir=$1/crl f newest=0 t
  mkdir -p "$crldir"
  ext=$(pki_crl_ext "$cadir")
  # Of several CRLs of an issuer OpenSSL uses the one with the latest
  # lastUpdate, and on a tie (same second) the one it loaded first: a new
  # CRL must be at least one second newer than every published one.
  hash=$(openssl x509 -noout -subject_hash -in "$(pki_ca_cert "$cadir")")
  for f in "$crldir/$hash".r[0-9]*; do
    [[ -e $f ]] || continue
    t=$(date -u -d "$(openssl crl -noout -lastupdate -in "$f" | cut -d= -f2)" +%s 2>/dev/null || echo 0)
    ((t > newest)) && newest=$t
  done
  while (($(date -u +%s) <= newest)); do sleep 0.2; done
  (cd "$cadir" && pki_run openssl ca -config ca.cnf -gencrl -crldays "$days" -crlexts "$ext" \
    -out "$PKI_WORK/crl.pem")
  hash=$(openssl crl -hash -noout -in "$PKI_WORK/crl.pem")
  n=0
  while [[ -e $crldir/$hash.r$n ]]; do n=$((n + 1)); done
  cp "$PKI_WORK/crl.pem" "$crldir/.$hash.r$n.tmp"
  chmod 644 "$crldir/.$hash.r$n.tmp"
  mv "$crldir/.$hash.r$n.tmp" "$crldir/$hash.r$n"
  local name
  name=$(basename "$cadir").crl.pem
  cp "$PKI_WORK/crl.pem" "$crldir/.$name.tmp" && mv "$crldir/.$name.tmp" "$crldir/$name"
  pki_say "CRL of $(basename "$cadir") ($(openssl crl -noout -nextupdate -in "$PKI_WORK/crl.pem")) -> $crldir/$hash.r$n"
}

# The CA databases of DIR (the issuing one first).
pki_ca_dirs() {  # DIR
  echo "$1/ca"
  [[ -s $1/ca-prev/ca.cnf ]] && echo "$1/ca-prev"
  return 0
}

# Writes FILE atomically from stdin (temp file in the same directory, rename).
pki_write_atomic() {  # FILE [mode]
  local tmp
  tmp=$(dirname "$1")/.$(basename "$1").tmp.$$
  cat >"$tmp"
  chmod "${2:-644}" "$tmp"
  mv -f "$tmp" "$1"
}

# Creates a CA with an `openssl ca` database in DIR (which must not exist):
# same settings as gen-dev-certs.sh, but the CA certificate is ca-cert.pem
# (ca.pem in a CA's directory may then be a trust bundle). Built in a
# temporary directory and renamed into place.
pki_make_ca() {  # DIR CN DAYS
  local d=$1 cn=$2 days=$3 tmp
  [[ ! -e $d ]] || pki_die "$d exists"
  tmp=$(dirname "$d")/.$(basename "$d").tmp.$$
  rm -rf "$tmp"
  mkdir -p "$tmp/newcerts"
  : >"$tmp/index.txt"
  echo 'unique_subject = no' >"$tmp/index.txt.attr"
  openssl rand -hex 16 >"$tmp/serial"
  echo 1000 >"$tmp/crlnumber"
  cat >"$tmp/ca.cnf" <<'CNF'
# CA config (certs/pki-lib.sh). Relative paths: run `openssl ca -config ca.cnf ...` from this dir.
[ca]
default_ca = tb_ca
[tb_ca]
dir = .
database = $dir/index.txt
new_certs_dir = $dir/newcerts
certificate = $dir/ca-cert.pem
private_key = $dir/ca.key
serial = $dir/serial
crlnumber = $dir/crlnumber
default_md = sha256
default_days = 825
default_crl_days = 7
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
[tb_crl_ext]
authorityKeyIdentifier = keyid:always
CNF
  pki_new_key "$tmp/ca.key"
  pki_run openssl req -new -x509 -config "$tmp/ca.cnf" -key "$tmp/ca.key" \
    -subj "/CN=$cn" -days "$days" -sha256 -out "$tmp/ca-cert.pem"
  mv "$tmp" "$d"
}

# True when CERT chains to the CA certificate CACERT (validity dates ignored).
pki_issued_by() {  # CERT CACERT
  openssl verify -no_check_time -CAfile "$2" "$1" >/dev/null 2>&1
}
