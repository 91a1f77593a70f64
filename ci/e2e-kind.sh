#!/usr/bin/env bash
# End to end on a throwaway kind cluster, where Docker runs (the pipeline's
# e2e job; a developer machine with Docker works too): builds both images
# twice (two builds that differ only in their revision), installs the platform
# pieces tasklane expects (cert-manager, Prometheus Operator CRDs, KEDA), then
# NATS, Valkey and tasklane from this repository's charts and dev values
# exactly as docs/how-to-run.md does, runs `helm test`, and while a pod inside
# the cluster posts tasks through the gateway Service, upgrades both releases
# to the second build and rolls them back. Every task accepted (202) must end
# `succeeded` with its payload as result: nothing lost across upgrade and
# rollback. Also runs the runbooks' nats-box commands.
#
#   ci/e2e-kind.sh            needs docker, kind, helm, kubectl, curl, jq, openssl
set -euo pipefail
cd "$(dirname "$0")/.."

cluster=${KIND_CLUSTER:-tasklane-e2e}
ns=tasklane
prefix=ghcr.io/tasklane
tasks=${E2E_TASKS:-600}
CERT_MANAGER_VERSION=v1.20.2
PROMETHEUS_OPERATOR_VERSION=v0.80.1
KEDA_VERSION=2.20.2

step() { printf '\n==> %s\n' "$*"; }
die() { printf 'e2e: %s\n' "$*" >&2; exit 1; }
field() { sed -n "s/^$1: *//p" "$2"; }

diagnose() {
  step "diagnostics"
  kubectl get pods -A -o wide || true
  kubectl -n "$ns" get events --sort-by=.lastTimestamp | tail -40 || true
  for d in tasklane-api tasklane-worker; do kubectl -n "$ns" logs "deploy/$d" --tail=40 || true; done
}
pf=""
cleanup() {
  local status=$?
  [ -z "$pf" ] || kill "$pf" 2>/dev/null || true
  [ "$status" -eq 0 ] || diagnose
  kind delete cluster --name "$cluster" >/dev/null 2>&1 || true
}
trap cleanup EXIT

for tool in docker kind helm kubectl curl jq openssl; do
  command -v "$tool" >/dev/null || die "$tool is required"
done

step "build both images, two revisions each"
for rev in a b; do
  for c in api worker; do
    docker build -q --build-arg "BIN=tasklane-$c" --build-arg "REVISION=e2e-$rev" \
      -t "$prefix/tasklane-$c:e2e-$rev" .
  done
done

step "kind cluster: one control plane, three workers (NATS and Valkey spread one per node)"
kind create cluster --name "$cluster" --wait 120s --config - <<'KIND'
kind: Cluster
apiVersion: kind.x-k8s.io/v1alpha4
nodes:
  - role: control-plane
  - role: worker
  - role: worker
  - role: worker
KIND
for rev in a b; do
  for c in api worker; do kind load docker-image --name "$cluster" "$prefix/tasklane-$c:e2e-$rev"; done
done

step "platform: cert-manager, Prometheus Operator CRDs, KEDA"
helm upgrade --install cert-manager cert-manager --repo https://charts.jetstack.io \
  --version "$CERT_MANAGER_VERSION" -n cert-manager --create-namespace --set crds.enabled=true --wait
kubectl apply --server-side -f \
  "https://github.com/prometheus-operator/prometheus-operator/releases/download/$PROMETHEUS_OPERATOR_VERSION/stripped-down-crds.yaml"
helm upgrade --install keda keda --repo https://kedacore.github.io/charts --version "$KEDA_VERSION" \
  -n keda --create-namespace --wait

step "namespace, network policies, certificates, credentials (docs/how-to-run.md steps 1-3)"
kubectl apply -f infra/namespaces.yaml
helm upgrade --install tasklane-base infra/helm/base -n "$ns" --wait
kubectl -n "$ns" wait certificate --all --for=condition=Ready --timeout=120s
bash ci/create-secrets.sh "$ns"

step "NATS and Valkey at their pinned versions (step 4)"
for c in nats valkey; do
  pin=infra/helm/$c/upstream.yaml
  helm upgrade --install "$(field release "$pin")" "$(field chart "$pin")" --repo "$(field repository "$pin")" \
    --version "$(field version "$pin")" -n "$ns" -f "infra/helm/$c/values.yaml" --wait --timeout 10m
done

deploy() {  # deploy REVISION: ci/deploy.sh dev with that build (worker, gateway, rollout, smoke test)
  IMAGE_PREFIX=$prefix IMAGE_TAG=e2e-$1 NAMESPACE=$ns bash ci/deploy.sh dev
}
step "tasklane, first build (step 5, through ci/deploy.sh)"
deploy a
helm test tasklane-api -n "$ns" --timeout 3m
helm test tasklane-worker -n "$ns" --timeout 3m

step "the runbooks' nats-box commands"
kubectl -n "$ns" exec deploy/nats-box -- nats stream info TASKS
kubectl -n "$ns" exec deploy/nats-box -- nats consumer info TASKS workers
kubectl -n "$ns" exec deploy/nats-box -- sh -c 'exec nats --user sys --password "$NATS_SYS_PASSWORD" server report jetstream'

step "post $tasks tasks through the gateway Service while upgrading and rolling back"
run=e2e-$RANDOM
# Labelled as the api chart's test pods, which its policies let reach the gateway.
kubectl -n "$ns" apply -f - <<POD
apiVersion: v1
kind: Pod
metadata:
  name: poster
  labels:
    app.kubernetes.io/name: tasklane-api-test
    app.kubernetes.io/instance: tasklane-api
    app.kubernetes.io/component: smoke-test
    app.kubernetes.io/part-of: tasklane
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  securityContext: {runAsNonRoot: true, runAsUser: 10001, seccompProfile: {type: RuntimeDefault}}
  containers:
    - name: poster
      image: docker.io/curlimages/curl:8.11.1
      securityContext: {allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: {drop: [ALL]}}
      command:
        - /bin/sh
        - -c
        - |
          i=0
          while [ "\$i" -lt $tasks ]; do
            i=\$((i + 1))
            out=\$(curl -s -m 10 -w ' %{http_code}' -X POST http://tasklane-api:8080/task \
              -H 'Content-Type: application/json' -d "{\"type\":\"echo\",\"payload\":{\"run\":\"$run\",\"n\":\$i}}")
            case "\$out" in
              *' 202') echo "accepted \$i \$(printf '%s' "\$out" | sed -n 's/.*"id":"\([^"]*\)".*/\1/p')" ;;
              *) echo "refused \$i \$out" ;;
            esac
            sleep 0.1
          done
          echo done
POD
kubectl -n "$ns" wait pod/poster --for=condition=Ready --timeout=60s
sleep 5
deploy b
kubectl -n "$ns" get deploy tasklane-api -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -q e2e-b \
  || die "the upgrade did not run the second build"
for release in tasklane-worker tasklane-api; do
  helm rollback "$release" -n "$ns" --wait --timeout 5m
done
kubectl -n "$ns" rollout status deploy/tasklane-api --timeout 5m
kubectl -n "$ns" get deploy tasklane-api -o jsonpath='{.spec.template.spec.containers[0].image}' | grep -q e2e-a \
  || die "the rollback did not return to the first build"
kubectl -n "$ns" wait pod/poster --for=jsonpath='{.status.phase}'=Succeeded --timeout=10m
kubectl -n "$ns" logs poster > "${RUNNER_TEMP:-/tmp}/poster.log"
accepted=$(grep -c '^accepted ' "${RUNNER_TEMP:-/tmp}/poster.log" || true)
echo "accepted $accepted of $tasks (refusals while pods rolled are the client's to retry)"
[ "$accepted" -gt 0 ] || die "no task was accepted"

step "every accepted task succeeded, with its own payload"
kubectl -n "$ns" port-forward svc/tasklane-api 18081:8080 >/dev/null &
pf=$!
sleep 3
deadline=$((SECONDS + 300))
lost=0
while read -r _ n id; do
  [ -n "$id" ] || { echo "task $n: 202 without an id"; lost=$((lost + 1)); continue; }
  while :; do
    body=$(curl -s "http://127.0.0.1:18081/task/$id" || true)
    status=$(jq -r '.status // empty' <<<"$body" 2>/dev/null || true)
    [ "$status" = succeeded ] && break
    if [ "$SECONDS" -ge "$deadline" ] || [ "$status" = failed ] || [ "$status" = dead ]; then
      echo "task $n ($id) lost: $body"; lost=$((lost + 1)); break
    fi
    sleep 1
  done
  [ "$status" = succeeded ] && ! jq -e --arg run "$run" --argjson n "$n" '.result == {run: $run, n: $n}' <<<"$body" >/dev/null \
    && { echo "task $n ($id) has another result: $body"; lost=$((lost + 1)); }
done < <(grep '^accepted ' "${RUNNER_TEMP:-/tmp}/poster.log")
[ "$lost" -eq 0 ] || die "$lost accepted task(s) did not succeed with their payload"
echo "all $accepted accepted tasks succeeded exactly with their payloads"
