#!/usr/bin/env bash
# Offline checks of the chaos experiments in chaos/: every object against the Chaos
# Mesh 2.8.3 CRD schemas (the served version's openAPIV3Schema, JSON Schema Draft 7,
# unknown fields rejected), every selector against the pods the charts render, the
# game-day Workflow against the experiments it sequences; shellcheck of the chaos
# scripts. The CRDs come from ../shared/upstream/crds/chaos-mesh: without that
# folder the schema part is skipped, and says so. Every check also proves it can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

CRDS=../shared/upstream/crds/chaos-mesh
CHARTS=../shared/upstream/charts
KUBE_VERSION=1.31.0
BUILD=build/chaos

step "installing pinned tools"
ensure_check_tools
CHAOS=$CHECK_TOOLS

step "shellcheck"
"$CHAOS/shellcheck" -x -S warning chaos/*.sh scripts/chaos-local.sh scripts/checks/75-chaos-drill.sh \
  scripts/checks/80-chaos.sh

step "yamllint chaos/"
"$CHAOS/yamllint" -s -c scripts/checks/lib/yamllint.yaml chaos/

if [ ! -d "$CRDS" ]; then
  echo "skipping the Chaos Mesh schema checks: $CRDS is absent (the pinned CRDs are not part of the repository)"
  exit 0
fi

step "rendering the charts whose pods the experiments select"
ensure_helm
build_chart_dependencies
rm -rf "$BUILD" && mkdir -p "$BUILD/bad"
for chart in api worker; do
  helm template "tasklane-$chart" "infra/helm/$chart" --namespace tasklane \
    --kube-version "$KUBE_VERSION" --api-versions keda.sh/v1alpha1 > "$BUILD/$chart.yaml"
done
helm template valkey-sentinel infra/helm/valkey-sentinel --namespace tasklane \
  --kube-version "$KUBE_VERSION" > "$BUILD/valkey-sentinel.yaml"
rendered=("$BUILD/api.yaml" "$BUILD/worker.yaml" "$BUILD/valkey-sentinel.yaml")
upstream=()
if [ -d "$CHARTS/nats-1.3.7" ] && [ -d "$CHARTS/valkey-0.9.4" ]; then
  helm template nats "$CHARTS/nats-1.3.7" --namespace tasklane --kube-version "$KUBE_VERSION" \
    -f infra/helm/nats/values.yaml > "$BUILD/nats.yaml"
  helm template valkey "$CHARTS/valkey-0.9.4" --namespace tasklane --kube-version "$KUBE_VERSION" \
    -f infra/helm/valkey/values.yaml > "$BUILD/valkey.yaml"
  rendered+=("$BUILD/nats.yaml" "$BUILD/valkey.yaml")
  upstream=(--upstream-rendered)
else
  echo "upstream NATS and Valkey charts absent under $CHARTS: their selectors are reported as skipped"
fi
validate() {
  "$CHAOS/python" scripts/checks/lib/validate_chaos.py --crds "$CRDS" "${upstream[@]}" \
    --rendered "${rendered[@]}" -- "$@"
}

step "every experiment and the Workflow against the Chaos Mesh 2.8.3 CRDs and the rendered pods"
validate chaos/experiments/*.yaml chaos/workflow.yaml

step "negative: broken experiments are rejected, each with its reason"
mkdir -p "$BUILD/bad/experiments"
"$CHAOS/python" - "$BUILD/bad/experiments" <<'PY'
import pathlib, sys
out = pathlib.Path(sys.argv[1])
def plant(source, name, old, new):
    text = pathlib.Path(f"chaos/experiments/{source}.yaml").read_text()
    assert old in text, (source, old)
    text = text.replace(old, new, 1).replace(f"name: {source}", f"name: {name}", 1)
    (out / f"{name}.yaml").write_text(text)
plant("worker-pod-kill", "misspelt-field", "  selector:", "  selecter:")
plant("worker-pod-kill", "bad-action", "action: pod-kill", "action: pod-kil")
plant("worker-pod-kill", "no-such-pods", "name: tasklane-worker", "name: tasklane-workers")
plant("worker-nats-delay", "bad-latency", "latency: 200ms", "latency: 200 ms")
plant("api-pod-kill", "no-hypothesis", "# Hypothesis:", "# Note:")
PY
if out=$(validate "$BUILD"/bad/experiments/*.yaml); then
  die "validate_chaos.py accepted broken experiments"
fi
for expect in "'selecter' was unexpected" "'pod-kil' is not one of" "matches no pod the charts render" \
  "'200 ms' does not match" "'# Hypothesis:' comment"; do
  grep -qF "$expect" <<<"$out" || { echo "$out"; die "validate_chaos.py did not report: $expect"; }
done
echo "rejected, with all 5 planted faults reported"

step "negative: a Workflow step that no experiment file has is rejected"
sed 's/latency: 200ms/latency: 300ms/' chaos/workflow.yaml > "$BUILD/bad/workflow.yaml"
if out=$(validate chaos/experiments/*.yaml "$BUILD/bad/workflow.yaml"); then
  die "validate_chaos.py accepted a Workflow step that differs from its experiment"
fi
grep -qF "is not the spec of any experiment" <<<"$out" || { echo "$out"; die "the differing step was not named"; }
echo "rejected"

step "run-experiment.sh aims Valkey-primary experiments at the pod Sentinel names, and needs a failover where one is expected"
# Stand-ins for kubectl and the drill: Sentinel names valkey-1 at the start, then
# valkey-2 (or valkey-1 again with SAME_PRIMARY=1); no cluster is touched.
stub=$BUILD/stub
mkdir -p "$stub"
cat >"$stub/kubectl" <<'STUB'
#!/bin/sh
case "$*" in
  *" exec "*)
    asked=$(cat "$STUB_DIR/asked" 2>/dev/null || echo 0)
    echo $((asked + 1)) >"$STUB_DIR/asked"
    primary=valkey-2
    { [ "$asked" = 0 ] || [ "${SAME_PRIMARY:-0}" = 1 ]; } && primary=valkey-1
    printf '%s.valkey-headless.tasklane.svc.cluster.local\n6379\n' "$primary" ;;
esac
STUB
printf '#!/bin/sh\nexit 0\n' >"$stub/drill"
chmod +x "$stub/kubectl" "$stub/drill"
run_stubbed() {  # run_stubbed OUT EXPERIMENT [VAR=VALUE...]
  rm -f "$stub/asked"
  env STUB_DIR="$stub" KUBECTL="$stub/kubectl" DRILL="$stub/drill" "${@:3}" \
    chaos/run-experiment.sh "$2" --url http://127.0.0.1:9 --out "$1"
}
run_stubbed "$BUILD/aim" chaos/experiments/valkey-primary-pod-failure.yaml >/dev/null \
  || fail "a failover run was reported failed"
grep -q 'pod-name: valkey-1$' "$BUILD/aim/valkey-primary-pod-failure.yaml" \
  || fail "the experiment was not aimed at the primary Sentinel names"
grep -q '^failover: yes$' "$BUILD/aim/valkey-primary.txt" || fail "the failover was not recorded"
rejects "a pod-failure of the primary after which Sentinel names the same primary" \
  run_stubbed "$BUILD/no-failover" chaos/experiments/valkey-primary-pod-failure.yaml SAME_PRIMARY=1
says "no failover happened"

finish 80-chaos
