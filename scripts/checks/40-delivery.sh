#!/usr/bin/env bash
# Static checks of the delivery side: the GitHub workflow (actionlint, the workflow
# JSON schema, our own pipeline policy), shellcheck on every script in the repo,
# yamllint, the smoke script against a stand-in gateway (its failure paths
# included), the deploy script's plan, the GitOps promotion script, and the
# per-environment values rendered through the real charts. Each of our own
# checkers and scripts (workflow_policy.py, smoke.sh, deploy.sh,
# set-image.sh) is also fed bad input and must reject it.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "installing pinned linters"
ensure_check_tools
ensure_helm
# actionlint runs shellcheck on every `run:` block when it finds it on PATH.
export PATH="$CHECK_TOOLS:$PATH"

work=$(mktemp -d)
standin_pid=""
cleanup() {
  [ -z "$standin_pid" ] || kill "$standin_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

workflows=(.github/workflows/*.yaml)

step "actionlint (with shellcheck on run: blocks): ${workflows[*]}"
actionlint -no-color -oneline "${workflows[@]}" || fail "actionlint"

step "GitHub workflow JSON schema"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}" || fail "workflow schema"

step "pipeline policy (pinned actions, permissions, OIDC, concurrency, approval, scan, digests)"
POLICY=("$CHECK_TOOLS/python" scripts/checks/lib/workflow_policy.py)
"${POLICY[@]}" .github/workflows/pipeline.yaml ci/trivyignore.yaml || fail "pipeline policy"
# negative: a copy of the workflow per rule, each broken in exactly that rule's way
"${POLICY[@]}" --self-test .github/workflows/pipeline.yaml ci/trivyignore.yaml || fail "pipeline policy self-test"

step "shellcheck on every script"
# Found at check time, so scripts other teams add later are covered too.
mapfile -t scripts < <(
  {
    find . \( -path ./.git -o -path ./.tools -o -path ./target -o -path ./build \
      -o -path ./node_modules \) -prune -o -type f -name '*.sh' -print
    [ -f .ci/run ] && echo ./.ci/run
  } | sort -u
)
echo "${#scripts[@]} scripts"
shellcheck -S warning -x "${scripts[@]}" || fail "shellcheck"

step "yamllint"
yaml_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable,
  truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}'
yamllint -s -d "$yaml_config" "${workflows[@]}" ci/*.yaml infra/environments || fail "yamllint"

step "scripts/smoke.sh against a stand-in gateway"
# The real stack is exercised by the Rust tests; the stand-in proves each way the
# script must fail, which a healthy stack never shows.
smoke_case() {  # smoke_case MODE pass|fail
  local mode=$1 want=$2 port_file="$work/port-$1" out="$work/smoke-$1.log" rc=0
  if [ "$mode" = unreachable ]; then
    # Nothing listening at all: smoke.sh must fail fast with a clear line, not hang.
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])' >"$port_file"
  else
    python3 scripts/checks/lib/smoke_standin.py "$mode" "$port_file" &
    standin_pid=$!
    for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.05; done
    [ -s "$port_file" ] || { fail "stand-in ($mode) did not start"; return; }
  fi
  TASKLANE_URL="http://127.0.0.1:$(cat "$port_file")" SMOKE_TIMEOUT_SECONDS=2 \
    SMOKE_POLL_INTERVAL_SECONDS=0.1 bash scripts/smoke.sh >"$out" 2>&1 || rc=$?
  if [ -n "$standin_pid" ]; then
    kill "$standin_pid" 2>/dev/null || true
    wait "$standin_pid" 2>/dev/null || true
    standin_pid=""
  fi
  if [ "$want" = pass ] && [ "$rc" -ne 0 ]; then
    fail "smoke.sh failed against a healthy stand-in:"; cat "$out"
  elif [ "$want" = fail ] && [ "$rc" -eq 0 ]; then
    fail "smoke.sh passed although $mode"; cat "$out"
  else
    printf '  %-14s %s (%s)\n' "$mode" "$([ "$rc" -eq 0 ] && echo passed || echo rejected)" \
      "$(tail -n 1 "$out")"
  fi
}
smoke_case ok pass
for mode in not-ready reject dead stuck wrong-result stats-missing unreachable; do
  smoke_case "$mode" fail
done

step "ci/deploy.sh plan (dry run)"
digest_a=sha256:$(printf '%064d' 1)
digest_w=sha256:$(printf '%064d' 2)
plan=$(IMAGE_PREFIX=ghcr.io/tasklane IMAGE_TAG=0123abc API_DIGEST=$digest_a WORKER_DIGEST=$digest_w \
  TASKLANE_URL='' bash ci/deploy.sh prod --dry-run) || fail "deploy.sh prod --dry-run"
for want in \
  "helm dependency build infra/helm/worker" \
  "helm dependency build infra/helm/api" \
  "helm upgrade --install tasklane-worker infra/helm/worker --namespace tasklane" \
  "helm upgrade --install tasklane-api infra/helm/api --namespace tasklane" \
  "--values infra/environments/prod/api.yaml" \
  "--set-string image.digest=$digest_a" \
  "--set-string image.digest=$digest_w" \
  "--set-string image.tag=0123abc" \
  "--rollback-on-failure" \
  "kubectl rollout status deployment/tasklane-api" \
  "kubectl rollout status deployment/tasklane-worker" \
  "bash scripts/smoke.sh"; do
  grep -qF -- "$want" <<<"$plan" || fail "deploy plan lacks: $want"
done
echo "deploy plan has the dependency builds, upgrades, rollback flag, digests, rollout status and smoke test"
rejects "prod without image digests" bash ci/deploy.sh prod --dry-run
says "API_DIGEST is required for prod"
rejects "a malformed digest" env API_DIGEST=sha256:nothex bash ci/deploy.sh dev --dry-run
says "API_DIGEST='sha256:nothex' is not a sha256:<64 hex> digest"
rejects "an unknown environment" bash ci/deploy.sh staging --dry-run
says "unknown environment 'staging'"

step "ci/set-image.sh (GitOps promotion) on a copy"
mkdir -p "$work/repo/ci" "$work/repo/infra"
cp ci/set-image.sh "$work/repo/ci/"
cp -r infra/environments "$work/repo/infra/"
bash "$work/repo/ci/set-image.sh" prod worker 0123abc "$digest_w" >/dev/null || fail "set-image.sh"
"$CHECK_TOOLS/python" - "$work/repo/infra/environments/prod/worker.yaml" "$digest_w" <<'PY' || fail "set-image.sh result"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["image"] == {**doc["image"], "tag": "0123abc", "digest": sys.argv[2]}, doc["image"]
PY
grep -q '^# ' "$work/repo/infra/environments/prod/worker.yaml" || fail "set-image.sh dropped the comments"
echo "set-image.sh writes tag and digest and keeps the comments"
rejects "a malformed digest for promotion" bash "$work/repo/ci/set-image.sh" prod worker 0123abc sha256:short
says "invalid digest 'sha256:short'"

step "per-environment values through the real charts"
build_chart_dependencies
for env_name in dev prod; do
  for component in api worker; do
    chart=infra/helm/$component
    values=infra/environments/$env_name/$component.yaml
    digest=$([ "$component" = api ] && echo "$digest_a" || echo "$digest_w")
    pin=(--set-string "image.tag=0123abc" --set-string "image.digest=$digest")
    if ! helm lint --strict "$chart" -f "$values" "${pin[@]}" >"$work/lint.log" 2>&1; then
      fail "helm lint $chart with $values"; cat "$work/lint.log"; continue
    fi
    if ! helm template "tasklane-$component" "$chart" --namespace tasklane \
      -f "$values" "${pin[@]}" --kube-version 1.31.0 \
      --api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1 \
      >"$work/rendered.yaml" 2>"$work/render.log"; then
      fail "helm template $chart with $values"; cat "$work/render.log"; continue
    fi
    # The deploy pins by digest: the Deployment must run image@digest.
    if grep -qE "image: \"?[^\"]*@$digest\"?" "$work/rendered.yaml"; then
      echo "  $values: lint ok, renders, image pinned to its digest"
    else
      fail "$values: rendered Deployment does not run the image by digest"
    fi
  done
done

finish 40-delivery
