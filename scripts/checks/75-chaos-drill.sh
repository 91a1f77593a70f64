#!/usr/bin/env bash
# The short local chaos drill (scripts/chaos-local.sh --short): kill -9 of every
# worker, kill -9 of a NATS follower, Valkey unreachable, each on a fresh HA topology
# under load; every accepted task must reach its expected final status, none counted
# twice, no acknowledged outcome lost. Timings are printed, never asserted.
# Then proves the checker can fail: the checker self test breaks each rule on purpose
# (a purged stream, a deleted outcome, a task it forgets) and must be reported.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "scripts/chaos-local.sh --short"
started=$SECONDS
scripts/chaos-local.sh --out build/chaos-drill-short --short
echo "short drill finished in $((SECONDS - started))s"

step "the checker reports tasks lost, an outcome lost and a task counted twice"
if scripts/chaos-local.sh --out build/chaos-drill-self-test --short --scenarios checker-self-test \
  >build/chaos-drill-self-test.out 2>&1; then
  cat build/chaos-drill-self-test.out
  die "the checker self test passed: the drill cannot see what it breaks"
fi
python3 - build/chaos-drill-self-test/drill.json <<'PY'
import json, sys
result = json.load(open(sys.argv[1]))["scenarios"][0]
seen = {k: result[k] for k in ("lost", "acknowledged_outcomes_lost", "counted_twice")}
missing = [k for k, v in seen.items() if v < 1]
if missing:
    sys.exit(f"FAIL: the self test broke these rules unseen: {missing} ({seen})")
print(f"ok: reported {seen}")
PY
