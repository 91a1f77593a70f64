#!/usr/bin/env bash
# Restore drill: the backup and restore of docs/backup-restore.md, run for real
# against a local nats-server and valkey-server on free loopback ports with the
# real gateway and worker binaries.
#
#   1. tasks go in through the gateway: some finish (succeeded, failed, one
#      dead-lettered), then the worker stops and more stay queued;
#   2. backup: both streams through the JetStream snapshot API
#      (scripts/lib/jetstream_backup.py), Valkey's AOF after a rewrite;
#   3. wipe: both servers stopped, their data directories deleted;
#   4. restore into empty servers, then prove the stream and consumer state, every
#      task's record and result and the /stats counters are what they were, and
#      that a worker started afterwards runs exactly the queued tasks, once.
#
# Run by scripts/checks/65-restore-drill.sh (so by scripts/test.sh). Takes well under
# a minute once the binaries are built.
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh
# shellcheck source=scripts/lib/loopback.sh
source scripts/lib/loopback.sh

FINISHED=6
QUEUED=5
# Long enough to outlast backup, wipe and restore on a slow machine, so the task
# is still a schedule in the backup and comes due only after the restore.
DELAY_MS=45000
WAIT_SECONDS=60

step "tools and binaries"
ensure_servers
scripts/jetstream-backup.sh --help >/dev/null   # installs its pinned client
# The same build as scripts/test.sh, so it is a no-op there (building only two
# packages would unify features differently and compile again).
cargo build --quiet --locked --workspace --bins
bin_dir=${CARGO_TARGET_DIR:-target}/debug

work=$(mktemp -d "${TMPDIR:-/tmp}/tasklane-restore-drill.XXXXXX")
nats_port=$(free_port) valkey_port=$(free_port) api_port=$(free_port) worker_port=$(free_port)
api=http://127.0.0.1:$api_port

declare -A pids=()
stop() {  # stop NAME: SIGTERM, then wait for it to exit
  local pid=${pids[$1]:-}
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  unset "pids[$1]"
}
cleanup() {
  local name
  for name in "${!pids[@]}"; do stop "$name"; done
  rm -rf "$work"
}
trap cleanup EXIT

start_nats() {
  "$NATS_SERVER_BIN" -js -sd "$work/nats" -a 127.0.0.1 -p "$nats_port" >>"$work/nats.log" 2>&1 &
  pids[nats]=$!
  wait_for "nats-server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$nats_port" 2>/dev/null
}
start_valkey() {
  "$VALKEY_SERVER_BIN" --bind 127.0.0.1 --port "$valkey_port" --dir "$work/valkey" \
    --appendonly yes --appendfsync everysec --save '' >>"$work/valkey.log" 2>&1 &
  pids[valkey]=$!
  wait_for "valkey-server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$valkey_port" 2>/dev/null
}
app_env=(env TASKLANE_NATS__URL="nats://127.0.0.1:$nats_port"
  TASKLANE_VALKEY__URL="redis://127.0.0.1:$valkey_port"
  TASKLANE_API__LISTEN="127.0.0.1:$api_port" TASKLANE_WORKER__LISTEN="127.0.0.1:$worker_port"
  RUST_LOG=warn)
start_worker() {
  "${app_env[@]}" "$bin_dir/tasklane-worker" >>"$work/worker.log" 2>&1 &
  pids[worker]=$!
  wait_for "worker ready" curl -sf -o /dev/null "http://127.0.0.1:$worker_port/readyz"
}
start_gateway() {
  "${app_env[@]}" "$bin_dir/tasklane-api" >>"$work/api.log" 2>&1 &
  pids[api]=$!
  wait_for "gateway ready" curl -sf -o /dev/null "$api/readyz"
}

# One Valkey command over a plain TCP connection (no CLI needed); prints the raw reply.
valkey() {
  local request="*$#\r\n" arg
  for arg in "$@"; do request+="\$${#arg}\r\n$arg\r\n"; done
  exec 3<>"/dev/tcp/127.0.0.1/$valkey_port"
  printf '%b' "$request*1\r\n\$4\r\nQUIT\r\n" >&3
  cat <&3
  exec 3<&-
}

submit() {  # submit BODY: prints the new task id
  curl -sf -H 'content-type: application/json' -d "$1" "$api/task" | jq -r .id
}
status_of() { curl -sf "$api/task/$1" | jq -r .status; }
all_settled() {  # all_settled ID...: none queued or running
  local id
  for id in "$@"; do
    case $(status_of "$id") in queued | running) return 1 ;; esac
  done
}
js() { scripts/jetstream-backup.sh --server "nats://127.0.0.1:$nats_port" "$@"; }
snapshot_state() {  # snapshot_state FILE: what must survive, as JSON lines
  local id
  {
    js state TASKS workers
    js state TASKS_SCHEDULED
    js state TASKS_DLQ
    curl -sf "$api/stats" | jq -c '{worker_processed_count, worker_succeeded_count, worker_failed_count, dead_letter_count, queue_backlog_length}'
    # -s without -f: a 404 after a bad restore belongs in the comparison
    for id in "${ids[@]}"; do curl -s "$api/task/$id" | jq -cS .; done
  } >"$1"
}

step "tasks in: $FINISHED finished, then $QUEUED queued with the worker stopped"
mkdir -p "$work/nats" "$work/valkey"
start_nats
start_valkey
start_worker
start_gateway
ids=()
for i in $(seq 1 $((FINISHED - 2))); do
  ids+=("$(submit "{\"type\":\"sha256\",\"payload\":{\"data\":\"drill-$i\"}}")")
done
ids+=("$(submit '{"type":"fail","payload":{"permanent":true}}')")
ids+=("$(submit '{"type":"fail","payload":{"fail_times":5},"max_attempts":1}')")
wait_for "the first tasks to finish" all_settled "${ids[@]}"
stop worker
queued_ids=()
for i in $(seq 1 "$QUEUED"); do
  queued_ids+=("$(submit "{\"type\":\"echo\",\"payload\":{\"n\":$i}}")")
done
ids+=("${queued_ids[@]}")
# A delayed task that comes due only after the restore: it must wait through the
# backup as a schedule in TASKS_SCHEDULED and run once after it.
delayed_id=$(submit "{\"payload\":{\"delayed\":true},\"delay_ms\":$DELAY_MS}")
ids+=("$delayed_id")
snapshot_state "$work/before.jsonl"
head -n 4 "$work/before.jsonl"
[ "$(js state TASKS workers | jq .messages)" = "$QUEUED" ] || die "expected $QUEUED queued messages before the backup"
[ "$(js state TASKS_DLQ | jq .messages)" = 1 ] || die "expected one dead letter before the backup"
[ "$(js state TASKS_SCHEDULED | jq .messages)" = 1 ] || die "expected one waiting schedule before the backup"

step "backup: JetStream snapshots of TASKS, TASKS_SCHEDULED and TASKS_DLQ, Valkey AOF after a rewrite"
stop api
js backup TASKS "$work/backup/TASKS"
js backup TASKS_SCHEDULED "$work/backup/TASKS_SCHEDULED"
js backup TASKS_DLQ "$work/backup/TASKS_DLQ"
valkey BGREWRITEAOF >/dev/null
rewritten() { valkey INFO persistence | grep -q 'aof_rewrite_in_progress:0' && valkey INFO persistence | grep -q 'aof_rewrite_scheduled:0'; }
wait_for "the AOF rewrite" rewritten
cp -a "$work/valkey/appendonlydir" "$work/backup/valkey-appendonlydir"
ls -l "$work/backup"/*

step "wipe: both servers stopped, their data deleted"
stop nats
stop valkey
rm -rf "$work/nats" "$work/valkey"
mkdir -p "$work/nats" "$work/valkey"

step "restore into empty servers (before any worker runs, so nothing declares empty streams)"
start_nats
js restore "$work/backup/TASKS_SCHEDULED"
js restore "$work/backup/TASKS"
js restore "$work/backup/TASKS_DLQ"
cp -a "$work/backup/valkey-appendonlydir" "$work/valkey/appendonlydir"
start_valkey
start_gateway
snapshot_state "$work/after.jsonl"

step "counts and results intact"
if diff -u "$work/before.jsonl" "$work/after.jsonl"; then
  echo "streams, consumer state, $(( ${#ids[@]} )) task records and /stats identical after the restore"
else
  fail "state after the restore differs from before the backup"
fi
# negative: the comparison notices a restore that lost data (a Valkey without its
# AOF comes back empty: every record gone)
grep -v '"status"' "$work/after.jsonl" > "$work/lost.jsonl" || true
rejects "a restore that lost the task records" diff -q "$work/before.jsonl" "$work/lost.jsonl"

step "a worker started after the restore runs the queued tasks, each once"
start_worker
wait_for "the queued tasks to finish" all_settled "${queued_ids[@]}"
for id in "${queued_ids[@]}"; do
  [ "$(status_of "$id")" = succeeded ] || fail "queued task $id ended $(status_of "$id")"
done
processed_before=$(grep -m1 worker_processed_count "$work/before.jsonl" | jq .worker_processed_count)
# /stats reuses one answer for up to a second, so the count may lag the records.
processed_reaches() { [ "$(curl -sf "$api/stats" | jq .worker_processed_count)" = "$1" ]; }
wait_for "/stats to count the queued tasks" processed_reaches $((processed_before + QUEUED))
processed_after=$(curl -sf "$api/stats" | jq .worker_processed_count)
[ "$processed_after" = $((processed_before + QUEUED)) ] \
  || fail "processed $processed_after, expected $processed_before + $QUEUED"
[ "$(js state TASKS workers | jq .messages)" = 0 ] || fail "TASKS not empty after the worker ran"
echo "processed $processed_before → $processed_after; TASKS empty"

step "the delayed task comes due after the restore and runs once"
[ "$(status_of "$delayed_id")" = queued ] || fail "the delayed task ran before its time"
delayed_done() { [ "$(status_of "$delayed_id")" = succeeded ]; }
WAIT_SECONDS=$(( DELAY_MS / 1000 + 60 )) wait_for "the delayed task to run" delayed_done
attempts=$(curl -sf "$api/task/$delayed_id" | jq .attempts)
[ "$attempts" = 1 ] || fail "the delayed task ran $attempts times"
wait_for "/stats to count the delayed task" processed_reaches $((processed_after + 1))
echo "delayed task $delayed_id succeeded once after the restore"

finish restore-drill
