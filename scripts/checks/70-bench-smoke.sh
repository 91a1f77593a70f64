#!/usr/bin/env bash
# Smoke run of the benchmark harness: scripts/bench.sh --smoke starts nats-server,
# valkey-server, the gateway and the worker (the debug binaries test.sh already
# built), runs every phase for about a second, prints the table and checks that
# every accepted task succeeded exactly once. Timings are printed, never asserted.
# Then proves the count check can fail: the same results with one task missing
# must be rejected by the report.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

step "scripts/bench.sh --smoke"
started=$SECONDS
BENCH_KEEP_RESULTS="$work/results.jsonl" scripts/bench.sh --smoke || die "bench.sh --smoke failed"
echo "bench smoke finished in $((SECONDS - started))s"

step "the count check rejects a run that lost a task"
python3 - "$work/results.jsonl" "$work/lost.jsonl" <<'PY'
import json, sys
records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
for record in records:
    if record["label"] == "stats":
        record["worker_processed_count"] -= 1
        record["worker_succeeded_count"] -= 1
with open(sys.argv[2], "w") as f:
    f.writelines(json.dumps(r) + "\n" for r in records)
PY
rejects "a run with a lost task" python3 scripts/lib/bench_report.py --results "$work/lost.jsonl" \
  --machine test --versions test --duration 1s --js-count 0 --mode smoke
says "count check FAILED"

finish 70-bench-smoke
