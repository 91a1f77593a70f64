#!/usr/bin/env bash
# End-to-end smoke test of a running tasklane stack through its gateway only, so the
# same script proves a laptop stack, a CI stack and a freshly deployed environment:
# the gateway is ready, an echo task goes from POST to `succeeded` with its payload as
# result, and /stats answers with every field of the contract.
#
#   TASKLANE_URL                 gateway base URL (default http://127.0.0.1:8080)
#   TASKLANE_OPS_URL             where the gateway serves /readyz (default TASKLANE_URL;
#                                its ops port when TASKLANE_API__OPS_LISTEN is set)
#   SMOKE_TIMEOUT_SECONDS        how long the task may take to succeed (default 60)
#   SMOKE_POLL_INTERVAL_SECONDS  pause between polls (default 0.5)
#   SMOKE_HTTP_TIMEOUT_SECONDS   timeout of each single request (default 10)
#
# Exits 0 on success, non-zero with one line naming the failed step otherwise.
# Needs only curl and python3 (for JSON), as those are on every runner and image.
set -euo pipefail

base_url=${TASKLANE_URL:-http://127.0.0.1:8080}
base_url=${base_url%/}
ops_url=${TASKLANE_OPS_URL:-$base_url}
ops_url=${ops_url%/}
timeout_s=${SMOKE_TIMEOUT_SECONDS:-60}
interval_s=${SMOKE_POLL_INTERVAL_SECONDS:-0.5}
http_timeout_s=${SMOKE_HTTP_TIMEOUT_SECONDS:-10}

die() { printf 'smoke: FAIL: %s\n' "$*" >&2; exit 1; }
info() { printf 'smoke: %s\n' "$*"; }

for tool in curl python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
done

body_file=$(mktemp)
trap 'rm -f "$body_file"' EXIT

# request METHOD PATH [JSON]: prints the HTTP status; the body lands in $body_file.
# A connection failure prints 000 instead of aborting, so callers report the step.
# The probe paths go to the ops address.
request() {
  local method=$1 path=$2 data=${3:-} url=$base_url
  case "$path" in /readyz | /healthz | /metrics) url=$ops_url ;; esac
  local args=(--silent --show-error --max-time "$http_timeout_s" --output "$body_file"
    --write-out '%{http_code}' --request "$method" -H 'Accept: application/json')
  if [ -n "$data" ]; then
    args+=(-H 'Content-Type: application/json' --data-binary "$data")
  fi
  local code
  code=$(curl "${args[@]}" "$url$path" 2>/dev/null) || true
  printf '%s' "${code:-000}"
}

# said STATUS: how a response status reads in a failure message.
said() {
  if [ "$1" = 000 ]; then echo "gave no HTTP answer (connection failed or timed out)"; else echo "answered $1"; fi
}

# json EXPR: evaluates a Python expression over the last response body bound to `d`.
json() {
  python3 -c '
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    sys.exit("response is not JSON: %s" % e)
try:
    print(eval(sys.argv[2]))
except (KeyError, TypeError, AttributeError) as e:
    sys.exit("response lacks %s" % e)
' "$body_file" "$1"
}

body_excerpt() { head -c 300 "$body_file"; }

info "gateway $base_url"

status=$(request GET /readyz)
[ "$status" = 200 ] || die "GET /readyz $(said "$status"), want 200 (not ready): $(body_excerpt)"
ready=$(json 'd.get("status")') || die "GET /readyz body is not JSON: $(body_excerpt)"
[ "$ready" = ready ] || die "GET /readyz status is '$ready', want 'ready'"
info "ready"

# A unique marker proves the result is this task's payload, not a cached one.
marker="smoke-$(date +%s)-$$-$RANDOM"
payload="{\"smoke\":\"$marker\",\"n\":42,\"nested\":{\"ok\":true,\"list\":[1,2,3]}}"
status=$(request POST /task "{\"type\":\"echo\",\"payload\":$payload}")
[ "$status" = 202 ] || die "POST /task $(said "$status"), want 202: $(body_excerpt)"
task_id=$(json 'd["id"]') || die "POST /task body has no id: $(body_excerpt)"
[ -n "$task_id" ] || die "POST /task returned an empty id"
info "task $task_id queued"

deadline=$(( $(date +%s) + timeout_s ))
task_status=""
while :; do
  status=$(request GET "/task/$task_id")
  [ "$status" = 200 ] || die "GET /task/$task_id $(said "$status"), want 200: $(body_excerpt)"
  task_status=$(json 'd["status"]') || die "GET /task/$task_id body has no status: $(body_excerpt)"
  case "$task_status" in
    succeeded) break ;;
    failed | dead) die "task $task_id ended as '$task_status': $(body_excerpt)" ;;
    queued | running) ;;
    *) die "task $task_id has unknown status '$task_status'" ;;
  esac
  [ "$(date +%s)" -lt "$deadline" ] || die "task $task_id still '$task_status' after ${timeout_s}s"
  sleep "$interval_s"
done
info "task $task_id succeeded"

same=$(python3 -c '
import json, sys
print(json.load(open(sys.argv[1])).get("result") == json.loads(sys.argv[2]))
' "$body_file" "$payload") || die "cannot compare the result: $(body_excerpt)"
[ "$same" = True ] || die "task $task_id result differs from its payload: $(body_excerpt)"
info "result equals payload"

status=$(request GET /stats)
[ "$status" = 200 ] || die "GET /stats $(said "$status"), want 200: $(body_excerpt)"
missing=$(json '" ".join(
  [k for k in ("valkey_keys_count", "queue_backlog_length", "worker_processed_count",
               "worker_succeeded_count", "worker_failed_count", "dead_letter_count")
   if type(d.get(k)) is not int]
  + ["queue." + k for k in ("pending", "in_flight", "redelivered", "consumers")
     if type((d.get("queue") or {}).get(k)) is not int])') \
  || die "GET /stats body is not JSON: $(body_excerpt)"
[ -z "$missing" ] || die "GET /stats lacks integer fields: $missing"
processed=$(json 'd["worker_processed_count"]')
[ "$processed" -ge 1 ] || die "GET /stats worker_processed_count is $processed after a task succeeded"
info "stats ok (worker_processed_count=$processed)"

info "PASS"
