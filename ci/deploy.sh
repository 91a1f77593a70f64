#!/usr/bin/env bash
# Push-based deploy of tasklane to one environment, against whatever cluster the
# current kubeconfig points at: the pipeline's deploy jobs run exactly this.
#
#   ci/deploy.sh ENV [--dry-run]     ENV = dev | prod (infra/environments/ENV)
#
# Steps: helm dependency build and helm upgrade --install of the worker then the
# gateway (waiting, rolled back by Helm when they do not become ready), kubectl
# rollout status, scripts/smoke.sh against the deployed gateway, and a helm rollback
# of both releases when the smoke test fails. Exits non-zero whenever the environment is not verified healthy.
#
# Environment:
#   IMAGE_PREFIX    registry path, images are $IMAGE_PREFIX/tasklane-{api,worker}
#                   (default: whatever the values files say)
#   IMAGE_TAG       tag to deploy, the commit SHA in the pipeline
#   API_DIGEST, WORKER_DIGEST  sha256:... digests; required for prod, so production
#                   runs exactly the bytes that were scanned, whatever the tag says
#   NAMESPACE       default tasklane
#   HELM_TIMEOUT    default 5m
#   TASKLANE_URL    deployed gateway URL; when unset, a kubectl port-forward to the
#                   gateway Service (API and ops ports) is opened for the smoke test
#   TASKLANE_OPS_URL  the gateway's ops address (/readyz), passed to scripts/smoke.sh
#   SMOKE_TIMEOUT_SECONDS  passed to scripts/smoke.sh
#   --dry-run       print the commands instead of running them (no cluster needed)
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { echo "usage: $0 dev|prod [--dry-run]" >&2; exit 2; }
die() { printf 'deploy: %s\n' "$*" >&2; exit 1; }
step() { printf '\n==> %s\n' "$*"; }

[ $# -ge 1 ] || usage
env_name=$1
dry_run=0
[ "${2:-}" = "--dry-run" ] && dry_run=1
[ $# -le 2 ] || usage
[ $# -lt 2 ] || [ "$dry_run" = 1 ] || usage

case "$env_name" in
  dev | prod) ;;
  *) die "unknown environment '$env_name' (dev or prod)" ;;
esac
env_dir=infra/environments/$env_name
[ -d "$env_dir" ] || die "$env_dir does not exist"

namespace=${NAMESPACE:-tasklane}
helm_timeout=${HELM_TIMEOUT:-5m}
digest_re='^sha256:[0-9a-f]{64}$'

for var in API_DIGEST WORKER_DIGEST; do
  value=${!var:-}
  if [ -n "$value" ] && ! [[ "$value" =~ $digest_re ]]; then
    die "$var='$value' is not a sha256:<64 hex> digest"
  fi
  if [ "$env_name" = prod ] && [ -z "$value" ]; then
    die "$var is required for prod: production deploys are pinned by digest"
  fi
done

run() {
  if [ "$dry_run" = 1 ]; then
    printf '+ %s\n' "$*"
  else
    "$@"
  fi
}

if [ "$dry_run" = 0 ]; then
  for tool in helm kubectl curl python3; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is required but not on PATH"
  done
  kubectl version --request-timeout=10s >/dev/null || die "no cluster reachable with the current kubeconfig"
fi

# Helm 4 renamed --atomic and made --wait take a strategy; both roll the release
# back when it does not get ready.
rollback_flag=--rollback-on-failure
wait_flag=--wait=watcher
if [ "$dry_run" = 0 ] && helm version --short 2>/dev/null | grep -q '^v3\.'; then
  rollback_flag=--atomic
  wait_flag=--wait
fi

# Revision before this deploy, so a failed smoke test can return to it.
previous_revision() {
  [ "$dry_run" = 1 ] && { echo 0; return; }
  helm history "$1" --namespace "$namespace" --max 20 -o json 2>/dev/null \
    | python3 -c '
import json, sys
revs = [r["revision"] for r in json.load(sys.stdin) if r.get("status") == "deployed"]
print(max(revs) if revs else 0)' || echo 0
}

image_args() {
  local component=$1 digest=$2
  local args=()
  [ -n "${IMAGE_PREFIX:-}" ] && args+=(--set-string "image.repository=$IMAGE_PREFIX/tasklane-$component")
  [ -n "${IMAGE_TAG:-}" ] && args+=(--set-string "image.tag=$IMAGE_TAG")
  [ -n "$digest" ] && args+=(--set-string "image.digest=$digest")
  [ ${#args[@]} -eq 0 ] || printf '%s\n' "${args[@]}"
}

declare -A before
releases=(tasklane-worker tasklane-api)
for release in "${releases[@]}"; do
  before[$release]=$(previous_revision "$release")
done

rollback_all() {
  step "rolling back after a failed verification"
  local release status=0
  for release in "${releases[@]}"; do
    if [ "${before[$release]}" -gt 0 ]; then
      run helm rollback "$release" "${before[$release]}" --namespace "$namespace" \
        --wait --timeout "$helm_timeout" || status=1
    else
      # First install: there is nothing to return to, so remove the broken release.
      run helm uninstall "$release" --namespace "$namespace" --wait || status=1
    fi
  done
  return "$status"
}

# The worker goes first: it creates the stream and the consumer the gateway
# publishes into, and a gateway without workers would only queue.
for component in worker api; do
  release=tasklane-$component
  digest_var=$(echo "$component" | tr '[:lower:]' '[:upper:]')_DIGEST
  mapfile -t extra < <(image_args "$component" "${!digest_var:-}")
  step "helm upgrade --install $release ($env_name)"
  # Packs the shared library chart (infra/helm/tasklane-lib, a file:// path)
  # into the chart's charts/; it needs no chart repository.
  run helm dependency build "infra/helm/$component"
  run helm upgrade --install "$release" "infra/helm/$component" \
    --namespace "$namespace" --create-namespace \
    --values "$env_dir/$component.yaml" \
    "${extra[@]}" \
    "$wait_flag" "$rollback_flag" --timeout "$helm_timeout" --history-max 10
  step "kubectl rollout status deployment/$release"
  run kubectl rollout status "deployment/$release" --namespace "$namespace" --timeout "$helm_timeout"
done

step "smoke test"
port_forward_pid=""
cleanup() { [ -z "$port_forward_pid" ] || kill "$port_forward_pid" 2>/dev/null || true; }
trap cleanup EXIT
url=${TASKLANE_URL:-}
ops_url=${TASKLANE_OPS_URL:-}
if [ -z "$url" ]; then
  # The chart serves the API on 8080 and /healthz, /readyz, /metrics on 9090.
  local_port=${SMOKE_LOCAL_PORT:-18080}
  local_ops_port=${SMOKE_LOCAL_OPS_PORT:-19090}
  url=http://127.0.0.1:$local_port
  ops_url=http://127.0.0.1:$local_ops_port
  forward=(kubectl port-forward "service/tasklane-api" "$local_port:8080" "$local_ops_port:9090" --namespace "$namespace")
  if [ "$dry_run" = 1 ]; then
    run "${forward[@]}"
  else
    "${forward[@]}" >/dev/null &
    port_forward_pid=$!
    for _ in $(seq 1 50); do
      curl -fsS -o /dev/null --max-time 1 "$ops_url/healthz" 2>/dev/null && break
      sleep 0.2
    done
  fi
fi
if ! run env TASKLANE_URL="$url" TASKLANE_OPS_URL="${ops_url:-$url}" bash scripts/smoke.sh; then
  rollback_all || die "smoke test failed AND the rollback failed: page the on-call"
  die "smoke test failed against $url; both releases were rolled back"
fi
step "$env_name deployed and verified"
