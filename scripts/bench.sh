#!/usr/bin/env bash
# Benchmarks tasklane on this machine in one run and prints the table:
#   raw JetStream publish and consume+ack ceilings, an axum no-op HTTP ceiling,
#   gateway ingest (POST /task and POST /tasks x100; as in production, with an API
#   key on every request and tenant limits on), open-loop latency at fixed
#   rates of the gateway alone, worker drain of the backlog (at the default
#   concurrency and at a wider one), end to end with CPU time per task of every
#   process, open-loop latency with the worker running, peak RSS, and a drain of
#   http tasks against a no-op target on loopback. Beside each of ingest, drain and
#   end to end, the same phase of the load generator's bare-bones pipeline (parse,
#   publish with PubAck, 202; pull, one Valkey SET, ack) on the same servers: the
#   targets are ratios against it.
# Everything runs on 127.0.0.1: nats-server, valkey-server, tasklane-api,
# tasklane-worker and the load generator share the machine's cores, as the figures
# in docs/benchmarks.md assume.
#
#   scripts/bench.sh            release build, ~2 minutes of load, rewrites the
#                               generated part of docs/benchmarks.md
#   scripts/bench.sh --smoke    debug binaries, ~1 s per phase, no docs; checks that
#                               every accepted task succeeded (timings not asserted)
#   scripts/bench.sh --security release build; only gateway ingest (POST /task), with
#                               auth and tenant limits off, then on (an API key, a
#                               tenant rate far above the load, an outstanding cap),
#                               interleaved off/on/off/on; prints the rates, no docs
#   scripts/bench.sh --worker   release build; only the worker's phases: the drain of
#                               a backlog filled through POST /tasks x100 at the
#                               default concurrency, then end to end, each with CPU
#                               per task per process; prints them, no docs
#
# Environment: BENCH_DURATION (default 5s), BENCH_JS_COUNT (default 200000),
# BENCH_RATES (default "2000 5000 10000"), BENCH_DELAYED (delayed tasks waiting
# during the second echo drain, default 100000), BENCH_WORKER_CONCURRENCY (default: the
# product default), BENCH_WIDE_CONCURRENCY (the second drain, default 256),
# BENCH_KEEP_RESULTS (copy the raw JSON lines there), BENCH_PROFILE (a directory:
# record a perf CPU profile of every process in each main phase there, see
# scripts/profile.sh), BENCH_BIN (a directory of release binaries to run instead of
# building them: for before/after runs of two builds), CARGO_TARGET_DIR.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/loopback.sh
source scripts/lib/loopback.sh

mode=full
case "${1:-}" in
  --smoke) mode=smoke ;;
  --security) mode=security ;;
  --worker) mode=worker ;;
  "") ;;
  *) echo "usage: $0 [--smoke | --security | --worker]" >&2; exit 2 ;;
esac

target_dir=${CARGO_TARGET_DIR:-target}
if [ "$mode" = smoke ]; then
  profile=debug
  duration=${BENCH_DURATION:-1s}
  js_count=${BENCH_JS_COUNT:-5000}
  rates=${BENCH_RATES:-"200 500"}
  delayed_waiting=${BENCH_DELAYED:-2000}
  cargo build --workspace --bins --locked --quiet
else
  profile=release
  duration=${BENCH_DURATION:-5s}
  js_count=${BENCH_JS_COUNT:-200000}
  rates=${BENCH_RATES:-"2000 5000 10000"}
  delayed_waiting=${BENCH_DELAYED:-100000}
  if [ -z "${BENCH_BIN:-}" ]; then
    cargo build --release --locked --quiet -p tasklane-api -p tasklane-worker -p tasklane-loadgen
  fi
fi
bin=${BENCH_BIN:-"$target_dir/$profile"}

ensure_servers

work=$(mktemp -d)
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

wait_port() {
  local port=$1 _
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "nothing listens on 127.0.0.1:$port" >&2
  return 1
}

wait_ready() {
  local url=$1 _
  for _ in $(seq 1 100); do
    if curl -fs -o /dev/null "$url"; then return 0; fi
    sleep 0.1
  done
  echo "$url never became ready" >&2
  return 1
}

results="$work/results.jsonl"
profile_dir=${BENCH_PROFILE:-}
profilers=()
# With BENCH_PROFILE set: samples each named process (name pid ...) until
# profile_stop, into $BENCH_PROFILE/<phase>.<name>.data.
profile_start() {
  [ -n "$profile_dir" ] || return 0
  local label=$1 name pid
  shift
  while [ $# -gt 0 ]; do
    name=$1 pid=$2
    shift 2
    perf record -q -F "${BENCH_PROFILE_FREQ:-999}" -p "$pid" \
      -o "$profile_dir/$label.$name.data" 2>>"$profile_dir/perf.log" &
    profilers+=($!)
    pids+=($!)
  done
  sleep 0.3
}
profile_stop() {
  local pid
  for pid in "${profilers[@]}"; do
    kill -INT "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  profilers=()
}
: >"$results"
phase() { printf '\n--> %s\n' "$*" >&2; }
# Runs the load generator; its JSON report goes to the results, its summary to stderr.
loadgen() { "$bin/tasklane-loadgen" "$@" >>"$results"; }

# utime + stime in clock ticks of each process, as one result line.
cpu_snapshot() {
  local name pid fields line="{\"label\":\"$1\""
  shift
  while [ $# -gt 0 ]; do
    name=$1 pid=$2
    shift 2
    read -r -a fields < <(sed 's/^.*) //' "/proc/$pid/stat")
    line+=",\"$name\":$((fields[11] + fields[12]))"
  done
  echo "$line,\"clk_tck\":$(getconf CLK_TCK)}" >>"$results"
}

memory_snapshot() {
  local name pid line="{\"label\":\"$1\""
  shift
  while [ $# -gt 0 ]; do
    name=$1 pid=$2
    shift 2
    line+=",\"${name}_hwm_kib\":$(awk '/^VmHWM/ {print $2}' "/proc/$pid/status")"
    line+=",\"${name}_rss_kib\":$(awk '/^VmRSS/ {print $2}' "/proc/$pid/status")"
  done
  echo "$line}" >>"$results"
}

nats_port=$(free_port)
valkey_port=$(free_port)
api_port=$(free_port)
worker_port=$(free_port)
noop_port=$(free_port)
nats_url="nats://127.0.0.1:$nats_port"
api_url="http://127.0.0.1:$api_port"

phase "starting nats-server and valkey-server on 127.0.0.1"
"$NATS_SERVER_BIN" -js -sd "$work/jetstream" -p "$nats_port" -a 127.0.0.1 >"$work/nats.log" 2>&1 &
nats_pid=$!
pids+=("$nats_pid")
"$VALKEY_SERVER_BIN" --port "$valkey_port" --bind 127.0.0.1 --save '' --appendonly no >"$work/valkey.log" 2>&1 &
valkey_pid=$!
pids+=("$valkey_pid")
wait_port "$nats_port"
wait_port "$valkey_port"

# The ceilings; the worker mode compares builds of the worker and skips them.
if [ "$mode" != worker ]; then
  phase "raw JetStream publish ceiling ($js_count messages, 512 PubAcks in flight)"
  loadgen js-publish --nats-url "$nats_url" --count "$js_count" --label raw_publish
  loadgen js-publish --nats-url "$nats_url" --count "$js_count" --msg-id --label raw_publish_msgid
  phase "raw JetStream consume+ack ceiling"
  loadgen js-consume --nats-url "$nats_url" --count $((2 * js_count)) --delete-stream --label raw_consume

  phase "axum no-op ceiling (parse the JSON, answer 202)"
  "$bin/tasklane-loadgen" noop-server --listen "127.0.0.1:$noop_port" 2>"$work/noop.log" &
  noop_pid=$!
  pids+=("$noop_pid")
  wait_port "$noop_port"
  loadgen http --url "http://127.0.0.1:$noop_port" --connections 64 --duration 1s --label noop_warmup
  loadgen http --url "http://127.0.0.1:$noop_port" --connections 64 --duration "$duration" --label noop_task
  kill "$noop_pid"
  wait "$noop_pid" 2>/dev/null || true
fi

export TASKLANE_NATS__URL="$nats_url"
export TASKLANE_VALKEY__URL="redis://127.0.0.1:$valkey_port"
export TASKLANE_API__LISTEN="127.0.0.1:$api_port"
export TASKLANE_WORKER__LISTEN="127.0.0.1:$worker_port"
export TASKLANE_LOG__FORMAT=json
export RUST_LOG=info
wide_concurrency=${BENCH_WIDE_CONCURRENCY:-256}
if [ -n "${BENCH_WORKER_CONCURRENCY:-}" ]; then
  export TASKLANE_WORKER__CONCURRENCY="$BENCH_WORKER_CONCURRENCY"
fi

# tasklane's gateway is measured as it ships to production: every request
# authenticated (an API key of tenant `bench`) and that tenant's rate and
# outstanding limits on, set far above the load so that none is refused but each
# request pays for them. The security mode also runs it with both off.
bench_key="tl_bench_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
key_hash=$(printf %s "$bench_key" | sha256sum | cut -d' ' -f1)
printf '[[key]]\nid = "bench"\nsha256 = "%s"\ntenant = "bench"\nscopes = ["tasks:write", "tasks:read", "admin"]\n' \
  "$key_hash" >"$work/keys.toml"
secured_api=(env TASKLANE_AUTH__MODE=required TASKLANE_AUTH__KEYS_FILE="$work/keys.toml"
  TASKLANE_LIMITS__TENANT_RATE=10000000 TASKLANE_LIMITS__TENANT_MAX_OUTSTANDING=100000000)
as_tenant=(--bearer "$bench_key")
tenant_header="authorization: Bearer $bench_key"

if [ "$mode" = security ]; then
  # The cost of authentication and the tenant quota on the hot path. Each round
  # starts a fresh gateway on the same servers; rounds alternate so that load from
  # elsewhere on the machine hits both sides alike.
  "$bin/tasklane-worker" --declare-topology >"$work/declare.log" 2>&1
  for round in 1 2; do
    for side in off on; do
      phase "gateway ingest, auth and limits $side (round $round)"
      if [ "$side" = on ]; then
        "${secured_api[@]}" "$bin/tasklane-api" >"$work/api-$side-$round.log" 2>&1 &
        bearer=("${as_tenant[@]}")
      else
        "$bin/tasklane-api" >"$work/api-$side-$round.log" 2>&1 &
        bearer=()
      fi
      api_pid=$!
      pids+=("$api_pid")
      wait_ready "$api_url/readyz"
      loadgen http --url "$api_url" --connections 64 --duration 1s "${bearer[@]}" --label "security_warmup_$side"
      loadgen http --url "$api_url" --connections 64 --duration "$duration" "${bearer[@]}" --label "security_${side}_$round"
      kill "$api_pid"
      wait "$api_pid" || true
    done
  done
  python3 -c 'import json, sys
rows = [r for r in map(json.loads, open(sys.argv[1])) if r.get("label", "").startswith("security_o")]
for r in rows:
    label, rate, p99, statuses = r["label"], r["tasks_per_s"], r["latency"]["p99_ms"], r["statuses"]
    print(f"{label:>16}: {rate:>9.0f} tasks/s accepted, p99 {p99} ms, statuses {statuses}")
for side in ("off", "on"):
    rates = [r["tasks_per_s"] for r in rows if r["label"].startswith(f"security_{side}_")]
    print(f"{side:>16}: mean {sum(rates) / len(rates):.0f} tasks/s")' "$results"
  exit 0
fi

if [ "$mode" = worker ]; then
  # The worker's two phases alone, for before/after comparisons of worker changes.
  "$bin/tasklane-worker" --declare-topology >"$work/declare.log" 2>&1
  "${secured_api[@]}" "$bin/tasklane-api" >"$work/api.log" 2>&1 &
  api_pid=$!
  pids+=("$api_pid")
  wait_ready "$api_url/readyz"
  phase "filling the backlog (POST /tasks x100, no worker running)"
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" --label ingest_batch
  backlog=$(python3 -c 'import json, sys
print(sum(r["accepted_tasks"] for r in map(json.loads, open(sys.argv[1]))
          if r["label"] == "ingest_batch"))' "$results")
  phase "worker drain of $backlog queued tasks"
  cpu_snapshot drain_cpu_before nats "$nats_pid" valkey "$valkey_pid"
  "$bin/tasklane-worker" >"$work/worker.log" 2>&1 &
  worker_pid=$!
  pids+=("$worker_pid")
  loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$backlog" --label drain
  cpu_snapshot drain_cpu_after nats "$nats_pid" valkey "$valkey_pid" worker "$worker_pid"
  phase "end to end: POST /task at 64 connections with the worker running"
  cpu_snapshot e2e_cpu_before api "$api_pid" worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --duration "$duration" --wait-processed --label e2e
  cpu_snapshot e2e_cpu_after api "$api_pid" worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
  python3 - "$results" <<'PY'
import json, sys
sys.path.insert(0, "scripts/lib")
from bench_report import cpu_per_task
r = {row["label"]: row for row in map(json.loads, open(sys.argv[1]))}
for phase, names, tasks in [
    ("drain", ["worker", "nats", "valkey"], r["drain"]["goal"]),
    ("e2e", ["api", "worker", "nats", "valkey"], r["e2e"]["accepted_tasks"]),
]:
    per, total = cpu_per_task(r[f"{phase}_cpu_before"], r[f"{phase}_cpu_after"], names, max(tasks, 1))
    detail = ", ".join(f"{n} {per[n]:.3f}" for n in names)
    rate = r[phase]["e2e"]["tasks_per_s"] if phase == "e2e" else r[phase]["tasks_per_s"]
    print(f"{phase}: {rate:.0f} tasks/s ({tasks} tasks), "
          f"CPU {total:.3f} ms per task ({detail})")
PY
  exit 0
fi

# Workers declare the streams and the consumer when they start; the gateway only
# waits for the work stream. Declare them the worker's way without starting one.
# The bare-bones pipeline copies their configuration.
"$bin/tasklane-worker" --declare-topology >"$work/declare.log" 2>&1
bare_port=$(free_port)
bare_url="http://127.0.0.1:$bare_port"
bare_args=(--nats-url "$nats_url" --valkey-url "redis://127.0.0.1:$valkey_port/1")

phase "bare-bones gateway ingest (parse, publish, PubAck, 202)"
"$bin/tasklane-loadgen" bare-gateway --listen "127.0.0.1:$bare_port" "${bare_args[@]}" \
  2>"$work/bare-gateway.log" &
bare_gateway_pid=$!
pids+=("$bare_gateway_pid")
wait_ready "$bare_url/stats"
loadgen http --url "$bare_url" --connections 64 --duration 1s --label bare_ingest_warmup
profile_start bare_ingest gateway "$bare_gateway_pid" nats "$nats_pid"
loadgen http --url "$bare_url" --connections 64 --duration "$duration" --label bare_ingest
profile_stop

phase "gateway ingest, no worker running (the backlog is the drain phase's input)"
"${secured_api[@]}" "$bin/tasklane-api" >"$work/api.log" 2>&1 &
api_pid=$!
pids+=("$api_pid")
wait_ready "$api_url/readyz"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --duration 1s --label ingest_warmup
profile_start ingest api "$api_pid" nats "$nats_pid" valkey "$valkey_pid"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --duration "$duration" --label ingest_task
profile_stop
profile_start ingest_batch api "$api_pid" nats "$nats_pid" valkey "$valkey_pid"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" --label ingest_batch
profile_stop

# Tasks accepted by tasklane's gateway (prefix ""), or by the bare one ("bare_").
accepted_so_far() {
  python3 -c 'import json, sys
bare = sys.argv[2] == "bare_"
print(sum(r.get("accepted_tasks", 0) for r in map(json.loads, open(sys.argv[1]))
          if r.get("path") and not r["label"].startswith(("noop", "delayed"))
          and r["label"].startswith("bare_") == bare))' "$results" "${1:-}"
}

phase "a batch's tasks read as queued as soon as the 202 is out"
ids=$(curl -fsS -H 'content-type: application/json' -H "$tenant_header" \
  -d '{"tasks":[{"payload":1},{"payload":2},{"payload":3}]}' "$api_url/tasks" |
  python3 -c 'import json, sys; print(" ".join(t["id"] for t in json.load(sys.stdin)["tasks"]))')
for id in $ids; do
  status=$(curl -fsS -H "$tenant_header" "$api_url/task/$id" | python3 -c 'import json, sys; print(json.load(sys.stdin)["status"])')
  if [ "$status" != queued ]; then
    echo "task $id reads $status right after its 202; expected queued" >&2
    exit 1
  fi
done
echo "3 of 3 batch records found as queued" >&2
echo '{"label":"batch_records","path":"/tasks","batch":3,"accepted_tasks":3,"statuses":{"202":1},"transport_errors":0}' >>"$results"

for rate in $rates; do
  phase "open loop at $rate/s, gateway alone (no worker yet)"
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --rate "$rate" --duration "$duration" --label "open_gateway_$rate"
done

phase "worker drain of the backlog"
backlog=$(accepted_so_far)
cpu_snapshot drain_cpu_before nats "$nats_pid" valkey "$valkey_pid"
"$bin/tasklane-worker" >"$work/worker.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
profile_start drain worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$backlog" --label drain
cpu_snapshot drain_cpu_after nats "$nats_pid" valkey "$valkey_pid" worker "$worker_pid"
profile_stop

phase "bare-bones worker drain of a backlog as large (pull, one SET, ack)"
bare_backlog=$(accepted_so_far bare_)
if [ "$bare_backlog" -lt "$backlog" ]; then
  # Topped up with messages of the same size straight to the bare stream.
  loadgen js-publish --nats-url "$nats_url" --stream BARE --subject bare.echo \
    --count $((backlog - bare_backlog)) --label bare_fill
  bare_backlog=$backlog
fi
cpu_snapshot bare_drain_cpu_before nats "$nats_pid" valkey "$valkey_pid"
"$bin/tasklane-loadgen" bare-worker "${bare_args[@]}" 2>"$work/bare-worker.log" &
bare_worker_pid=$!
pids+=("$bare_worker_pid")
profile_start bare_drain worker "$bare_worker_pid" nats "$nats_pid" valkey "$valkey_pid"
loadgen wait-processed --url "$bare_url" --processed "$bare_backlog" --label bare_drain
cpu_snapshot bare_drain_cpu_after nats "$nats_pid" valkey "$valkey_pid" worker "$bare_worker_pid"
profile_stop

phase "end to end: POST /task at 64 connections with the worker running"
cpu_snapshot e2e_cpu_before api "$api_pid" worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
profile_start e2e api "$api_pid" worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --duration "$duration" --wait-processed --label e2e
cpu_snapshot e2e_cpu_after api "$api_pid" worker "$worker_pid" nats "$nats_pid" valkey "$valkey_pid"
profile_stop

phase "bare-bones end to end: POST /task at 64 connections with the bare worker running"
bare_cpu=(api "$bare_gateway_pid" worker "$bare_worker_pid" nats "$nats_pid" valkey "$valkey_pid")
cpu_snapshot bare_e2e_cpu_before "${bare_cpu[@]}"
profile_start bare_e2e "${bare_cpu[@]}"
loadgen http --url "$bare_url" --connections 64 --duration "$duration" --wait-processed --label bare_e2e
cpu_snapshot bare_e2e_cpu_after "${bare_cpu[@]}"
profile_stop
memory_snapshot bare_memory api "$bare_gateway_pid" worker "$bare_worker_pid"
kill "$bare_gateway_pid" "$bare_worker_pid"
wait "$bare_gateway_pid" "$bare_worker_pid" 2>/dev/null || true

for rate in $rates; do
  phase "open loop at $rate/s, worker draining alongside"
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --rate "$rate" --duration "$duration" --label "open_draining_$rate"
done

phase "waiting for every accepted task to finish"
loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$(accepted_so_far)" --label final
memory_snapshot memory api "$api_pid" worker "$worker_pid"

# The default concurrency bounds tasks in flight, so the drain above is bounded by
# per-task latency as much as by CPU; the same worker with more tasks in flight
# shows what the protocol costs when batches fill.
phase "worker drain at concurrency $wide_concurrency"
kill -TERM "$worker_pid"
wait "$worker_pid" 2>/dev/null || true
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" --label ingest_batch_refill
cpu_snapshot drain_wide_cpu_before nats "$nats_pid" valkey "$valkey_pid"
TASKLANE_WORKER__CONCURRENCY=$wide_concurrency "$bin/tasklane-worker" >"$work/worker-wide.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$(accepted_so_far)" --label drain_wide
cpu_snapshot drain_wide_cpu_after nats "$nats_pid" valkey "$valkey_pid" worker "$worker_pid"
echo "{\"label\":\"drain_wide_settings\",\"concurrency\":$wide_concurrency}" >>"$results"

# http tasks against the load generator's no-op target on loopback, which only
# this worker is allowed to reach (TASKLANE_HTTP__ALLOWED_NETWORKS): the cost of a
# request per task beside the echo drains above.
phase "worker drain of http tasks against a no-op target on 127.0.0.1"
kill -TERM "$worker_pid"
wait "$worker_pid" 2>/dev/null || true
"$bin/tasklane-loadgen" noop-server --listen "127.0.0.1:$noop_port" 2>"$work/target.log" &
target_pid=$!
pids+=("$target_pid")
wait_port "$noop_port"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" \
  --http-target "http://127.0.0.1:$noop_port/hook" --label ingest_http_refill
cpu_snapshot drain_http_cpu_before nats "$nats_pid" valkey "$valkey_pid" target "$target_pid"
TASKLANE_HTTP__ALLOWED_NETWORKS=127.0.0.0/8 "$bin/tasklane-worker" >"$work/worker-http.log" 2>&1 &
worker_pid=$!
pids+=("$worker_pid")
loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$(accepted_so_far)" --label drain_http
cpu_snapshot drain_http_cpu_after nats "$nats_pid" valkey "$valkey_pid" target "$target_pid" worker "$worker_pid"

# Delayed tasks wait in TASKS_SCHEDULED as message schedules (docs/decisions.md,
# ADR-14). Their ingest rate, then the same echo drain without and with
# $delayed_waiting of them waiting (30 days, so none comes due during the run).
phase "gateway ingest of delayed tasks (delay_ms, 64 connections)"
loadgen http --url "$api_url" "${as_tenant[@]}" --connections 64 --duration "$duration" --delay-ms 2592000000 --label delayed_ingest
drain_echo_backlog() {  # drain_echo_backlog LABEL: refill with the worker stopped, then drain
  kill -TERM "$worker_pid"
  wait "$worker_pid" 2>/dev/null || true
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" --label "ingest_refill_$1"
  "$bin/tasklane-worker" >"$work/worker-$1.log" 2>&1 &
  worker_pid=$!
  pids+=("$worker_pid")
  loadgen wait-processed --url "$api_url" "${as_tenant[@]}" --processed "$(accepted_so_far)" --label "$1"
}
phase "echo drain, no delayed task waiting beyond the ingest above"
drain_echo_backlog drain_before_delayed
phase "filling $delayed_waiting delayed tasks"
delayed_accepted() {
  python3 -c 'import json, sys
print(sum(r.get("accepted_tasks", 0) for r in map(json.loads, open(sys.argv[1]))
          if r.get("path") and r["label"].startswith("delayed")))' "$results"
}
for round in $(seq 1 200); do
  [ "$(delayed_accepted)" -ge "$delayed_waiting" ] && break
  loadgen http --url "$api_url" "${as_tenant[@]}" --connections 16 --batch 100 --duration "$duration" --delay-ms 2592000000 --label "delayed_fill_$round"
done
echo "$(delayed_accepted) delayed tasks waiting" >&2
phase "echo drain with the delayed tasks waiting"
drain_echo_backlog drain_with_delayed
python3 -c 'import json, sys
rows = {r["label"]: r for r in map(json.loads, open(sys.argv[1])) if "label" in r}
ingest = rows["delayed_ingest"]["tasks_per_s"]
before, after = rows["drain_before_delayed"]["tasks_per_s"], rows["drain_with_delayed"]["tasks_per_s"]
waiting = sum(r.get("accepted_tasks", 0) for l, r in rows.items() if l.startswith("delayed") and r.get("path"))
ratio = round(after / before, 3) if before else None
print(json.dumps({"label": "delayed_drain_ratio", "delayed_waiting": waiting, "delayed_ingest": ingest,
                  "drain_before": before, "drain_with": after, "ratio": ratio}))
print(f"delayed ingest {ingest:.0f} tasks/s; echo drain {before:.0f}/s before, "
      f"{after:.0f}/s with {waiting} delayed waiting (ratio {ratio})", file=sys.stderr)' "$results" >>"$results.ratio"
cat "$results.ratio" >>"$results"

curl -fsS -H "$tenant_header" "$api_url/stats" | python3 -c 'import json, sys
print(json.dumps({"label": "stats", **json.load(sys.stdin)}))' >>"$results"

machine=$(python3 -c 'import os, platform
model = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.machine())
mem = next(int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal"))
print(f"{os.cpu_count()} cores ({model}), {mem / 1048576:.0f} GiB RAM, {platform.system()} {platform.release()}")')
versions="$("$NATS_SERVER_BIN" --version), valkey $("$VALKEY_SERVER_BIN" --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), $(rustc --version)"

report_args=(--results "$results" --machine "$machine" --versions "$versions"
  --duration "$duration" --js-count "$js_count" --mode "$mode")
# A profiled run is slowed by the sampling: its figures do not go into the docs.
if [ "$mode" = full ] && [ -z "$profile_dir" ]; then
  report_args+=(--write docs/benchmarks.md)
fi
if [ -n "${BENCH_KEEP_RESULTS:-}" ]; then
  cp "$results" "$BENCH_KEEP_RESULTS"
fi
python3 scripts/lib/bench_report.py "${report_args[@]}"
