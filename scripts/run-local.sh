#!/usr/bin/env bash
# Runs the whole tasklane pipeline on this machine: pinned nats-server (JetStream) and
# valkey-server (fetched into .tools/ when not on PATH), the gateway and one worker.
# Data lives in .local/ (git-ignored) and survives restarts. Ctrl-C stops everything
# gracefully: gateway and worker drain first, then the servers.
#
#   scripts/run-local.sh            debug build (quickest to start)
#   scripts/run-local.sh --release  optimized build
#
# Ports (override with the variables): API 8080 (TASKLANE_LOCAL_API_PORT), worker
# health/metrics 9090 (TASKLANE_LOCAL_WORKER_PORT), NATS 4222 (TASKLANE_LOCAL_NATS_PORT),
# NATS monitoring 8222 (TASKLANE_LOCAL_NATS_MONITOR_PORT), Valkey 6379
# (TASKLANE_LOCAL_VALKEY_PORT).
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh

profile=debug
build_flags=()
if [ "${1:-}" = "--release" ]; then
  profile=release
  build_flags=(--release)
elif [ -n "${1:-}" ]; then
  echo "usage: $0 [--release]" >&2
  exit 2
fi

api_port=${TASKLANE_LOCAL_API_PORT:-8080}
worker_port=${TASKLANE_LOCAL_WORKER_PORT:-9090}
nats_port=${TASKLANE_LOCAL_NATS_PORT:-4222}
nats_monitor_port=${TASKLANE_LOCAL_NATS_MONITOR_PORT:-8222}
valkey_port=${TASKLANE_LOCAL_VALKEY_PORT:-6379}
data_dir=$PWD/.local
mkdir -p "$data_dir/nats" "$data_dir/valkey" "$data_dir/logs"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$api_port" "$worker_port" "$nats_port" "$nats_monitor_port" "$valkey_port"; do
  if port_in_use "$port"; then
    echo "port $port on 127.0.0.1 is already in use; stop what uses it or set the TASKLANE_LOCAL_*_PORT variables" >&2
    exit 1
  fi
done

echo "==> fetching pinned servers if needed"
ensure_servers
echo "==> building ($profile)"
cargo build --quiet "${build_flags[@]}" -p tasklane-api -p tasklane-worker --bins

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo
  echo "==> stopping (gateway and worker drain first)"
  # Reverse start order: the apps drain while their servers are still up.
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    kill -TERM "${pids[i]}" 2>/dev/null || true
    wait "${pids[i]}" 2>/dev/null || true
  done
  echo "==> stopped; data kept in .local/, logs in .local/logs/"
  exit 0
}
trap stop_all INT TERM EXIT

wait_for() {
  local what=$1 check=$2
  for _ in $(seq 1 150); do
    if eval "$check" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  echo "$what did not come up; see .local/logs/" >&2
  exit 1
}

echo "==> starting nats-server on 127.0.0.1:$nats_port"
"$NATS_SERVER_BIN" -js -sd "$data_dir/nats" -a 127.0.0.1 -p "$nats_port" -m "$nats_monitor_port" \
  >"$data_dir/logs/nats.log" 2>&1 &
pids+=($!)
wait_for nats-server "curl -fsS http://127.0.0.1:$nats_monitor_port/healthz"

echo "==> starting valkey-server on 127.0.0.1:$valkey_port"
"$VALKEY_SERVER_BIN" --port "$valkey_port" --bind 127.0.0.1 --dir "$data_dir/valkey" \
  --appendonly yes --appendfsync everysec --save '' \
  --maxmemory 256mb --maxmemory-policy noeviction >"$data_dir/logs/valkey.log" 2>&1 &
pids+=($!)
wait_for valkey-server "port_in_use $valkey_port"

export TASKLANE_NATS__URL="nats://127.0.0.1:$nats_port"
export TASKLANE_VALKEY__URL="redis://127.0.0.1:$valkey_port"
export TASKLANE_API__LISTEN="127.0.0.1:$api_port"
export TASKLANE_WORKER__LISTEN="127.0.0.1:$worker_port"
export TASKLANE_LOG__FORMAT="${TASKLANE_LOG__FORMAT:-pretty}"

echo "==> starting tasklane-worker (health and metrics on :$worker_port)"
"target/$profile/tasklane-worker" >"$data_dir/logs/worker.log" 2>&1 &
pids+=($!)
echo "==> starting tasklane-api on :$api_port"
"target/$profile/tasklane-api" >"$data_dir/logs/api.log" 2>&1 &
pids+=($!)
wait_for tasklane-api "curl -fsS http://127.0.0.1:$api_port/readyz"
wait_for tasklane-worker "curl -fsS http://127.0.0.1:$worker_port/readyz"

cat <<EOT

tasklane is running. Try:

  curl -s -X POST http://127.0.0.1:$api_port/task \\
       -H 'Content-Type: application/json' \\
       -d '{"type":"sha256","payload":{"data":"hello"}}'
  curl -s http://127.0.0.1:$api_port/task/<id from the answer>
  curl -s http://127.0.0.1:$api_port/stats
  curl -s http://127.0.0.1:$api_port/metrics      # worker: http://127.0.0.1:$worker_port/metrics

  TASKLANE_URL=http://127.0.0.1:$api_port scripts/smoke.sh   # end-to-end check

Logs: .local/logs/{api,worker,nats,valkey}.log    Press Ctrl-C to stop.
EOT

# Stay in the foreground until Ctrl-C, or until a component dies.
while true; do
  for pid in "${pids[@]}"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "a component exited unexpectedly; see .local/logs/" >&2
      stop_all
    fi
  done
  sleep 1
done
