#!/usr/bin/env bash
# The local chaos drill: builds the gateway, the worker and tasklane-drill, then runs
# each scenario on a fresh HA topology on 127.0.0.1 (3 NATS nodes, Valkey primary +
# replica + 3 Sentinels, fault proxies, 2 gateways, 2 workers) under steady load and
# checks every task afterwards. Writes OUT/drill.json, OUT/drill.md and every
# process's log under OUT/logs; exits non-zero if any scenario loses a task, counts
# one twice or loses an acknowledged outcome.
#
#   scripts/chaos-local.sh                      # every scenario (about 30 minutes)
#   scripts/chaos-local.sh --short              # the short set scripts/test.sh runs
#   scripts/chaos-local.sh --scenarios valkey-failover,nats-stall-node
#   scripts/chaos-local.sh --out DIR ...        # default build/chaos-drill
#
# Every other option goes to `tasklane-drill local` (see its --help).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh

out=build/chaos-drill
drill_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --out) out=$2; shift 2 ;;
    *) drill_args+=("$1"); shift ;;
  esac
done

ensure_servers
cargo build --quiet --locked -p tasklane-api -p tasklane-worker -p tasklane-drill --bins
bin_dir=${CARGO_TARGET_DIR:-target}/debug
mkdir -p "$out" && rm -rf "$out/logs"
"$bin_dir/tasklane-drill" local --bin-dir "$bin_dir" --logs "$out/logs" \
  --json "$out/drill.json" --markdown "$out/drill.md" "${drill_args[@]}"
