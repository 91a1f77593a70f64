#!/usr/bin/env bash
# CPU profiles of every process in each main phase of scripts/bench.sh: runs the
# benchmark (release build) with perf sampling each process during bare-bones
# ingest, tasklane ingest (POST /task and POST /tasks x100), drain, bare-bones
# drain, end to end and bare-bones end to end, then prints, per phase and process,
# the share of samples by binary/library and the top symbols. The run's figures
# are printed but not written to docs/benchmarks.md (sampling slows it down).
#
#   scripts/profile.sh [OUT_DIR]     default: a new directory under /tmp
#
# Needs `perf` (Debian: linux-perf) and perf_event access to processes of the same
# user (kernel.perf_event_paranoid <= 2). Environment: PROFILE_TOP (symbols per
# process, default 12), BENCH_PROFILE_FREQ (samples per second, default 999), and
# the BENCH_* knobs of scripts/bench.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null; then
  echo "perf not found; on Debian: apt-get install linux-perf" >&2
  exit 1
fi
out=${1:-$(mktemp -d -t tasklane-profile.XXXXXX)}
mkdir -p "$out"
top=${PROFILE_TOP:-12}

BENCH_PROFILE="$out" BENCH_KEEP_RESULTS="$out/results.jsonl" scripts/bench.sh

for data in "$out"/*.data; do
  name=$(basename "$data" .data)
  samples=$(perf report -i "$data" --stdio --sort dso 2>/dev/null |
    sed -n 's/^# Samples: \([0-9a-zA-Z]*\).*/\1/p' | head -1)
  printf '\n=== %s (%s samples) ===\n' "$name" "${samples:-0}"
  perf report -i "$data" --stdio --sort dso --percent-limit 2 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -8
  echo "--- top symbols"
  perf report -i "$data" --stdio --sort sym --percent-limit 0.5 2>/dev/null |
    grep -v '^#' | grep -v '^$' | head -"$top"
done | tee "$out/summary.txt"
echo "profiles and summary in $out" >&2
