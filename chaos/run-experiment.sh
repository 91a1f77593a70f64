#!/usr/bin/env bash
# Runs one Chaos Mesh experiment against a deployed tasklane release while the drill's
# load runs, then checks every task through the gateway: each accepted task reaches
# its expected final status, none is counted twice, no acknowledged outcome is lost
# (`tasklane-drill remote`, the same load and checker as scripts/chaos-local.sh).
#
#   chaos/run-experiment.sh chaos/experiments/worker-pod-kill.yaml
#   chaos/run-experiment.sh chaos/workflow.yaml --for 30m
#
# Options:
#   --namespace NS   where the gateway pods run (default tasklane; the experiments
#                    select pods in tasklane)
#   --url URL        a gateway URL instead of port-forwards to each gateway pod
#                    (repeatable; e.g. the ingress)
#   --for DURATION   how long the experiment stays applied (default 60s)
#   --rate N         tasks per second (default 5)
#   --out DIR        where the report goes (default build/chaos/<experiment>)
#
# Needs kubectl with a context on the cluster and Chaos Mesh 2.8 installed. Run it
# against a release with no other traffic: the counters are compared over the run.
#
# Experiments (and the Workflow) on the Valkey primary name valkey-0, the primary of
# a fresh install. After a failover another pod is primary, so the script asks
# Sentinel which pod it is now and applies a copy aimed at that pod; afterwards it
# writes the primary before and after to valkey-primary.txt, and fails the run when
# an experiment annotated chaos.tasklane.io/expect-failover left the primary where
# it was.
set -euo pipefail
cd "$(dirname "$0")/.."

experiment=${1:?usage: chaos/run-experiment.sh EXPERIMENT.yaml [options]}
shift
namespace=tasklane fault_for=60s rate=5 out=""
urls=()
while [ $# -gt 0 ]; do
  case $1 in
    --namespace) namespace=$2; shift 2 ;;
    --url) urls+=("$2"); shift 2 ;;
    --for) fault_for=$2; shift 2 ;;
    --rate) rate=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    *) echo "unknown option: $1" >&2; exit 2 ;;
  esac
done
[ -f "$experiment" ] || { echo "no such experiment: $experiment" >&2; exit 2; }
name=$(basename "$experiment" .yaml)
out=${out:-build/chaos/$name}
mkdir -p "$out"

kubectl=${KUBECTL:-kubectl}
if ! command -v "$kubectl" >/dev/null 2>&1 && [ -x .tools/kubectl/kubectl ]; then
  kubectl=.tools/kubectl/kubectl
fi
drill=${DRILL:-}
if [ -z "$drill" ]; then
  cargo build --quiet --release --locked -p tasklane-drill
  drill=${CARGO_TARGET_DIR:-target}/release/tasklane-drill
fi

# The pod Sentinel names the Valkey primary (by its DNS name valkey-N.<headless>...).
valkey_primary() {
  "$kubectl" -n "$namespace" exec valkey-sentinel-0 -c sentinel -- \
    sh -c 'valkey-cli --no-auth-warning -p 26379 SENTINEL get-master-addr-by-name mymaster' \
    2>/dev/null | sed -n '1s/\..*//p'
}
applied=$experiment
primary_before=""
if grep -q 'statefulset.kubernetes.io/pod-name: valkey-0$' "$experiment"; then
  primary_before=$(valkey_primary)
  case $primary_before in
    valkey-[0-9]*) ;;
    *) echo "no Sentinel named the Valkey primary; is the valkey-sentinel release running?" >&2; exit 1 ;;
  esac
  applied=$out/$(basename "$experiment")
  sed "s/statefulset.kubernetes.io\/pod-name: valkey-0\$/statefulset.kubernetes.io\/pod-name: $primary_before/" \
    "$experiment" >"$applied"
  echo "the Valkey primary is $primary_before (Sentinel): $applied aims at it"
fi

forwards=()
cleanup() {
  # The experiment never outlives the run, whatever happened.
  "$kubectl" delete -f "$applied" --ignore-not-found >/dev/null 2>&1 || true
  for pid in "${forwards[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

if [ ${#urls[@]} -eq 0 ]; then
  # One forward per gateway pod, so a killed gateway costs only its own path, as
  # behind a load balancer.
  pods=$("$kubectl" -n "$namespace" get pods -l app.kubernetes.io/name=tasklane-api \
    -o jsonpath='{.items[*].metadata.name}')
  [ -n "$pods" ] || { echo "no gateway pods in namespace $namespace" >&2; exit 1; }
  # Readiness is on the pod's ops port (9090), the task API on 8080.
  ops_urls=()
  for pod in $pods; do
    read -r port ops_port < <(python3 -c 'import socket
socks = [socket.socket() for _ in range(2)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*(s.getsockname()[1] for s in socks))')
    "$kubectl" -n "$namespace" port-forward "pod/$pod" "$port:8080" "$ops_port:9090" >"$out/port-forward-$pod.log" 2>&1 &
    forwards+=("$!")
    urls+=("http://127.0.0.1:$port")
    ops_urls+=("http://127.0.0.1:$ops_port")
  done
  for url in "${ops_urls[@]}"; do
    for _ in $(seq 1 50); do
      curl -fsS -o /dev/null "$url/readyz" && break
      sleep 0.2
    done
    curl -fsS -o /dev/null "$url/readyz" || { echo "gateway not ready at $url" >&2; exit 1; }
  done
fi

# The comment block at the top of the experiment is its hypothesis.
hypothesis=$(awk '/^#/ { sub(/^# ?(Hypothesis: )?/, ""); printf "%s ", $0; next } { exit }' "$experiment")
hypothesis=${hypothesis% }
url_args=()
for url in "${urls[@]}"; do
  url_args+=(--url "$url")
done
# The experiments name their namespace themselves (tasklane).
printf -v apply '%q apply -f %q' "$kubectl" "$applied"
printf -v delete '%q delete -f %q --ignore-not-found' "$kubectl" "$applied"
status=0
"$drill" remote "${url_args[@]}" --name "$name" --hypothesis "$hypothesis" \
  --fault-command "$apply" --heal-command "$delete" --fault-for "$fault_for" --rate "$rate" \
  --json "$out/drill.json" --markdown "$out/drill.md" || status=$?

if [ -n "$primary_before" ]; then
  primary_after=$(valkey_primary)
  failover=no
  [ "$primary_after" = "$primary_before" ] || failover=yes
  printf 'valkey primary before: %s\nvalkey primary after: %s\nfailover: %s\n' \
    "$primary_before" "${primary_after:-unknown}" "$failover" | tee "$out/valkey-primary.txt"
  if [ "$failover" = no ] && grep -q 'chaos.tasklane.io/expect-failover: "true"' "$experiment"; then
    echo "Sentinel still names $primary_before the primary: no failover happened" >&2
    status=1
  fi
fi
exit "$status"
