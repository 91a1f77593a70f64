#!/usr/bin/env bash
# The API contract, checked against a live gateway: schemathesis reads
# docs/openapi.json, sends generated requests (valid and invalid) to a gateway
# started with authentication on, a worker, and real nats-server and valkey-server
# on free loopback ports, and checks every answer: no 5xx, a documented status,
# content type, headers and a body that fits the schema. Then it proves the check
# can fail: a copy of the description that leaves out a status the gateway
# answers (422) must be rejected.
#
# Bounded: at most CONTRACT_MAX_EXAMPLES cases per operation and phase, and
# CONTRACT_DEADLINE seconds in all; everything started here is stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh
# shellcheck source=scripts/lib/loopback.sh
source scripts/lib/loopback.sh

MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-150}
DEADLINE=${CONTRACT_DEADLINE:-240}
SEED=${CONTRACT_SEED:-20261130}
WAIT_SECONDS=60

step "tools and binaries"
ensure_servers
ensure_contract_tools
"$SCHEMATHESIS" --version
# The same build as scripts/test.sh, so it is a no-op there.
cargo build --quiet --locked --workspace --bins
bin_dir=${CARGO_TARGET_DIR:-target}/debug

root=$PWD
work=$(mktemp -d "${TMPDIR:-/tmp}/tasklane-contract.XXXXXX")
nats_port=$(free_port) valkey_port=$(free_port) api_port=$(free_port) worker_port=$(free_port)
api=http://127.0.0.1:$api_port

pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

step "nats-server, valkey-server, worker and gateway (auth required) on loopback"
mkdir -p "$work/nats"
"$NATS_SERVER_BIN" -js -sd "$work/nats" -a 127.0.0.1 -p "$nats_port" >"$work/nats.log" 2>&1 &
pids+=($!)
"$VALKEY_SERVER_BIN" --bind 127.0.0.1 --port "$valkey_port" --save '' --appendonly no \
  >"$work/valkey.log" 2>&1 &
pids+=($!)
wait_for "nats-server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$nats_port" 2>/dev/null
wait_for "valkey-server" bash -c "exec 3<>/dev/tcp/127.0.0.1/$valkey_port" 2>/dev/null

# One key with every scope; the keys file holds only its SHA-256.
token="tl_contract_$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
cat >"$work/keys.toml" <<EOF
[[key]]
id = "contract-check"
sha256 = "$(printf '%s' "$token" | sha256sum | cut -d' ' -f1)"
tenant = "contract"
scopes = ["tasks:write", "tasks:read", "admin"]
EOF
app_env=(env TASKLANE_NATS__URL="nats://127.0.0.1:$nats_port"
  TASKLANE_VALKEY__URL="redis://127.0.0.1:$valkey_port"
  TASKLANE_API__LISTEN="127.0.0.1:$api_port" TASKLANE_WORKER__LISTEN="127.0.0.1:$worker_port"
  TASKLANE_AUTH__MODE=required TASKLANE_AUTH__KEYS_FILE="$work/keys.toml"
  RUST_LOG=warn)
# The worker does not run http tasks here: generated URLs name hosts that would be
# looked up in DNS, and this check sends nothing beyond loopback. The gateway still
# takes them, so their payload's description is held to its check.
"${app_env[@]}" TASKLANE_TASKS__ENABLED=echo,sha256,sleep,fail \
  "$bin_dir/tasklane-worker" >"$work/worker.log" 2>&1 &
pids+=($!)
wait_for "worker ready" curl -sf -o /dev/null "http://127.0.0.1:$worker_port/readyz"
"${app_env[@]}" "$bin_dir/tasklane-api" >"$work/api.log" 2>&1 &
pids+=($!)
wait_for "gateway ready" curl -sf -o /dev/null "$api/readyz"

step "the gateway serves the committed description"
curl -sf "$api/openapi.json" -o "$work/served.json"
cmp -s "$work/served.json" docs/openapi.json \
  || fail "GET /openapi.json differs from docs/openapi.json; regenerate it with: cargo run -q -p tasklane-api -- --print-openapi > docs/openapi.json"
echo "GET /openapi.json = docs/openapi.json ($(wc -c <docs/openapi.json) bytes)"

# One worker: Python 3.11 before 3.11.8 can fail compiling in two threads at once
# (hypothesis does, to describe its strategies). Run from $work, where schemathesis
# keeps its cache.
# use_after_free (a GET after a DELETE must be 404) is left out: DELETE /task/{id}
# cancels the task, and its record, status `cancelled`, stays readable like every
# final record (services/tests/tests/cancellation.rs checks that answer).
contract() {  # contract SCHEMA [OPTIONS...]: schemathesis against the live gateway
  local schema=$1; shift
  (cd "$work" && SCHEMATHESIS_HOOKS=contract_hooks \
    PYTHONPATH="$root/scripts/checks/lib" timeout --signal=INT --kill-after=10 "$DEADLINE" \
    "$SCHEMATHESIS" run "$schema" --url "$api" \
    --header "Authorization: Bearer $token" \
    --checks all --exclude-checks use_after_free \
    --max-examples "$MAX_EXAMPLES" --seed "$SEED" \
    --request-timeout 10 --workers 1 --no-color "$@")
}

step "schemathesis: every operation, valid and invalid requests"
started=$SECONDS
contract "$PWD/docs/openapi.json" \
  || { tail -n 30 "$work/api.log" >&2; fail "the gateway does not keep docs/openapi.json"; }
echo "contract held ($((SECONDS - started))s)"
# A panic is answered 500 (which schemathesis would report), but say so plainly.
# (ERROR lines alone prove nothing: /readyz answers 503 while the gateway starts.)
if grep -q 'panicked' "$work/api.log"; then
  grep 'panicked' "$work/api.log" | head -n 5 >&2
  fail "the gateway panicked during the run"
fi

step "negative: a description without the 422 answer of POST /task is rejected"
python3 - docs/openapi.json "$work/no-422.json" <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))
del doc["paths"]["/task"]["post"]["responses"]["422"]
json.dump(doc, open(sys.argv[2], "w"))
EOF
rejects "a description that leaves out an answer the gateway gives" \
  contract "$work/no-422.json" --include-path /task --include-method POST \
  --max-examples 20
says "ST103 Undocumented status code" "Received: 422"

finish 68-api-contract
