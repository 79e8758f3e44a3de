#!/usr/bin/env bash
# ops.promtool_rules: the alert rules load (promtool check rules), their unit tests
# pass (promtool test rules), the example scrape config is valid (promtool check
# config), and every alert carries what an on-call engineer needs: `for:`, a
# severity, summary, description and a runbook_url whose anchor is a heading of
# docs/operations.md. Usage: promtool_rules_test.sh <source dir>
set -uo pipefail
SRC=${1:?usage: promtool_rules_test.sh <source dir>}
RULES=$SRC/docs/prometheus/tongban-alerts.yml
OPS=$SRC/docs/operations.md
failed=0
fail() { echo "FAIL: $*" >&2; failed=1; }

if ! command -v promtool >/dev/null; then
  echo "FAIL: promtool is not installed. Install the Debian package: apt-get install -y" \
    "--no-install-recommends prometheus (common/bootstrap.sh lists it in TONGBAN_PACKAGES)." >&2
  exit 1
fi

run() {  # a command that must succeed; its output is shown either way
  echo "==> $*"
  "$@" || fail "$* exited with status $?"
}
run promtool check rules "$RULES"
run promtool test rules "$SRC/docs/prometheus/tongban-alerts.test.yml"
run promtool check config "$SRC/docs/prometheus/prometheus.yml"

# Each rule block: from "- alert:" to the next one (or the next group).
echo "==> alert metadata and runbook anchors"
alerts=$(awk '/^ *- alert: /{print $3}' "$RULES")
[[ -n $alerts ]] || fail "no alerts found in $RULES"
for alert in $alerts; do
  block=$(awk -v a="$alert" '
    /^ *- alert: / { inside = ($3 == a); if (inside) { print; next } }
    /^  - name: / { inside = 0 }
    inside { print }' "$RULES")
  for key in 'for:' 'severity:' 'summary:' 'description:' 'runbook_url:'; do
    grep -q "^ *$key" <<<"$block" || fail "$alert has no $key"
  done
  anchor=$(tr '[:upper:]' '[:lower:]' <<<"$alert")
  grep -q "runbook_url: \"docs/operations.md#$anchor\"" <<<"$block" ||
    fail "$alert: runbook_url must be \"docs/operations.md#$anchor\""
  grep -qE "^#+ $alert\$" "$OPS" || fail "$alert: docs/operations.md has no heading '#### $alert'"
  # Each alert is exercised by the unit tests.
  grep -q "alertname: $alert\$" "$SRC/docs/prometheus/tongban-alerts.test.yml" ||
    fail "$alert has no test in tongban-alerts.test.yml"
done
echo "$(wc -w <<<"$alerts") alerts checked"
exit "$failed"
