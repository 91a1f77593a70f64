#!/usr/bin/env bash
# Static checks of tasklane's packaging: the Dockerfile, the api and worker Helm
# charts and their library chart, the Valkey Sentinel chart, the NATS/Valkey
# values for the upstream charts and the Sentinel scripts (run against a real
# valkey-server on loopback, and three real Sentinels through a failover), the
# cluster manifests and docker-compose.yml.
# Everything runs offline with the tools of scripts/lib/tools.sh. Each of our own
# checkers (the values schemas and chart rules, chart_schemas.py, env_keys.py,
# validate_manifests.py, sentinel_scripts.py, sentinel_acl.py) is also fed bad
# input and must reject it.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

KUBE_VERSION=1.31.0
BUILD=build/k8s

step "installing pinned tools"
ensure_helm
ensure_check_tools
ensure_checkov
helm version --short
PY=$CHECK_TOOLS/python
rm -rf "$BUILD" && mkdir -p "$BUILD/bad"

step "hadolint: the Dockerfile of both images"
"$CHECK_TOOLS/hadolint" Dockerfile || fail "hadolint"
grep -q '^USER 10001:10001$' Dockerfile || fail "images must run as numeric USER 10001"
if grep -q '^HEALTHCHECK' Dockerfile; then
  fail "images must not declare HEALTHCHECK (probes do that)"
fi

step "yamllint (charts' values, manifests, compose; templates are Go templates, not YAML)"
"$CHECK_TOOLS/yamllint" -s -c scripts/checks/lib/yamllint.yaml \
  infra/helm/*/values.yaml infra/helm/*/Chart.yaml infra/helm/*/ci/*.yaml infra/helm/*/upstream.yaml \
  infra/argocd/values.yaml infra/argocd/Chart.yaml infra/namespaces.yaml \
  docker-compose.yml infra/compose || fail "yamllint"

step "helm dependency build (tasklane-lib into each chart's charts/, offline)"
build_chart_dependencies

step "every key both charts have is described alike in their values.schema.json"
SCHEMAS=("$PY" scripts/checks/lib/chart_schemas.py)
"${SCHEMAS[@]}" infra/helm/api/values.schema.json infra/helm/worker/values.schema.json || fail "chart schemas"
# negative: a shared key that drifted, and a key added to one chart only
"$PY" - "$BUILD/bad/api-values.schema.json" <<'PY'
import json, sys
schema = json.load(open("infra/helm/api/values.schema.json"))
schema["properties"]["image"]["properties"]["digest"]["pattern"] = "^sha256:.*$"
schema["properties"]["extraVolumes"] = {"type": "array"}
json.dump(schema, open(sys.argv[1], "w"))
PY
rejects "two schemas that drifted apart" \
  "${SCHEMAS[@]}" "$BUILD/bad/api-values.schema.json" infra/helm/worker/values.schema.json
says "image.digest: api" "extraVolumes: only in the api schema"

step "helm lint --strict (the library, then each chart with default and production values)"
helm lint --strict infra/helm/tasklane-lib || fail "helm lint tasklane-lib"
helm lint --strict --kube-version "$KUBE_VERSION" infra/helm/base || fail "helm lint base"
helm lint --strict --kube-version "$KUBE_VERSION" infra/helm/base --set externalSecrets.enabled=true \
  || fail "helm lint base (External Secrets)"
helm lint --strict --kube-version "$KUBE_VERSION" infra/helm/valkey-sentinel || fail "helm lint valkey-sentinel"
for env_name in dev prod; do
  helm lint --strict infra/argocd -f "infra/environments/$env_name/argocd.yaml" || fail "helm lint argocd ($env_name)"
done
for chart in api worker; do
  helm lint --strict --kube-version "$KUBE_VERSION" "infra/helm/$chart" || fail "helm lint $chart"
  helm lint --strict --kube-version "$KUBE_VERSION" "infra/helm/$chart" \
    -f "infra/helm/$chart/ci/production-values.yaml" || fail "helm lint $chart (production values)"
done

render() {  # render NAME CHART [helm args...]
  local name=$1 chart=$2 path=infra/helm/$2 release=tasklane-$2; shift 2
  [ "$chart" = argocd ] && path=infra/argocd
  [ "$chart" = valkey-sentinel ] && release=valkey-sentinel
  helm template "$release" "$path" --namespace tasklane \
    --kube-version "$KUBE_VERSION" \
    --api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1 \
    --api-versions cert-manager.io/v1 --api-versions external-secrets.io/v1 \
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
render api-ingress api --set ingress.enabled=true --set ingress.host=tasklane.example.com
render base base
render base-external-secrets base --set externalSecrets.enabled=true
render valkey-sentinel valkey-sentinel
render argocd-dev argocd -f infra/environments/dev/argocd.yaml
render argocd-prod argocd -f infra/environments/prod/argocd.yaml

grep -q '^kind: ScaledObject' "$BUILD/worker-default.yaml" && ! grep -q '^kind: HorizontalPodAutoscaler' "$BUILD/worker-default.yaml" \
  || fail "mode=keda must render a ScaledObject and no HPA"
grep -q '^kind: HorizontalPodAutoscaler' "$BUILD/worker-hpa.yaml" && ! grep -q '^kind: ScaledObject' "$BUILD/worker-hpa.yaml" \
  || fail "mode=hpa must render an HPA and no ScaledObject"
if grep -qE '^kind: (ScaledObject|HorizontalPodAutoscaler)' "$BUILD/worker-fixed.yaml"; then
  fail "mode=none must render no autoscaler"
fi

step "every TASKLANE_ variable the charts set is a key the binaries know (documented in services/core/src/config.default.toml)"
ENV_KEYS=("$PY" scripts/checks/lib/env_keys.py services/core/src/config.default.toml)
"${ENV_KEYS[@]}" "$BUILD"/*.yaml || fail "env keys"
# The environments' values too: they are what actually gets deployed.
mkdir -p "$BUILD/env"
for env_name in dev prod; do
  for chart in api worker; do
    render "env/$env_name-$chart" "$chart" -f "infra/environments/$env_name/$chart.yaml" \
      --set-string "image.digest=sha256:$(printf '%064d' 3)"
  done
  "${ENV_KEYS[@]}" "$BUILD/env/$env_name-api.yaml" "$BUILD/env/$env_name-worker.yaml" || fail "env keys ($env_name)"
done
# negative: a misspelt key through extraEnv
render bad/api-unknown-key api --set config.extraEnv.TASKLANE_WORKER__CONCURENCY=8
rejects "TASKLANE_WORKER__CONCURENCY" "${ENV_KEYS[@]}" "$BUILD/bad/api-unknown-key.yaml"
says "TASKLANE_WORKER__CONCURENCY is not a key"

step "Kubernetes $KUBE_VERSION schemas, CRD schemas and tasklane rules on every rendered object"
VALIDATE=("$PY" scripts/checks/lib/validate_manifests.py "$KUBE_VERSION")
"${VALIDATE[@]}" "$BUILD"/*.yaml "$BUILD"/env/*.yaml infra/namespaces.yaml || fail "manifests"
# negative: six planted faults in a copy of a render
"$PY" scripts/checks/lib/break_render.py "$BUILD/worker-production.yaml" "$BUILD/bad/worker-broken.yaml"
rejects "a broken render" "${VALIDATE[@]}" "$BUILD/bad/worker-broken.yaml"
says "'replicass' was unexpected" "readOnlyRootFilesystem must be true" \
  "must exceed the worker drain time" "'intervall' was unexpected" "unknown keys ['lagTreshold']" "has both"

step "negative: values.schema.json and the chart's own rules reject bad values"
bad_values() {  # bad_values CHART "message fragment" helm-args...
  local chart=$1 expect=$2; shift 2
  # helm template, not lint: lint mode turns `fail` into a no-op, and the
  # cross-field rules are `fail`s; template applies the schema too.
  rejects "$chart $*" helm template "tasklane-$chart" "infra/helm/$chart" "$@"
  says "$expect"
}
# wrong type
bad_values api "replicaCount" --set replicaCount=two
# misspelt (unknown) key
bad_values api "additional properties 'replicas' not allowed" --set replicas=3
# weakened pod security
bad_values api "readOnlyRootFilesystem" --set securityContext.readOnlyRootFilesystem=false
bad_values worker "allowPrivilegeEscalation" --set securityContext.allowPrivilegeEscalation=true
# secrets only by reference
bad_values api "existingSecret" --set existingSecret=
# both autoscalers at once is not a mode
bad_values worker "autoscaling/mode" --set autoscaling.mode=both
# malformed image digest
bad_values worker "digest" --set image.digest=latest
# missing resource limits
bad_values api "limits" --set resources.limits=null
# Sentinel: a quorum one Sentinel can reach alone, two of three drained at once,
# a writable root filesystem, fewer than three Sentinels
bad_values valkey-sentinel "/sentinel/quorum" --set sentinel.quorum=1
bad_values valkey-sentinel "/podDisruptionBudget/maxUnavailable" --set podDisruptionBudget.maxUnavailable=2
bad_values valkey-sentinel "readOnlyRootFilesystem" --set securityContext.readOnlyRootFilesystem=false
bad_values valkey-sentinel "/replicas" --set replicas=1
# cross-field rules (tasklane.validateValues in infra/helm/tasklane-lib)
bad_values worker "must be at least config.worker.shutdownGrace" --set terminationGracePeriodSeconds=30
bad_values worker "must be at least config.worker.shutdownGrace" --set config.worker.shutdownGrace=2m
bad_values api "needs config.nats.tls.caSecretName" --set config.nats.tls.caSecretName=
# production without a digest, and an edge without a host or with a snippet
bad_values worker "image.requireDigest is set" --set image.requireDigest=true
bad_values api "/ingress/host" --set ingress.enabled=true
bad_values api "snippet" --set ingress.enabled=true --set ingress.host=a.example.com \
  --set 'ingress.annotations.nginx\.ingress\.kubernetes\.io/configuration-snippet=x'
bad_values api "requestTimeout must be longer than config.api.publishTimeout" --set config.api.requestTimeout=5s
bad_values api "minAvailable must be below autoscaling.minReplicas" --set podDisruptionBudget.minAvailable=2
bad_values worker "maxUnavailable must not exceed" --set autoscaling.mode=none --set replicaCount=1 \
  --set podDisruptionBudget.maxUnavailable=2
# above the binary's own limit (api.max_batch 1..10000)
bad_values api "maxBatch" --set config.api.maxBatch=20000

step "shellcheck: Sentinel's start script and the Valkey pods' follow-sentinel script"
"$PY" -c 'import sys, yaml; c = yaml.safe_load(open(sys.argv[1]))["extraInitContainers"]; print("#!/bin/sh\n" + next(i for i in c if i["name"] == "follow-sentinel")["args"][0])' \
  infra/helm/valkey/values.yaml > "$BUILD/follow-sentinel.sh"
"$CHECK_TOOLS/shellcheck" -S warning infra/helm/valkey-sentinel/files/sentinel.sh "$BUILD/follow-sentinel.sh" \
  || fail "shellcheck (Sentinel scripts)"

step "Sentinel's start script and follow-sentinel run against a real valkey-server"
ensure_valkey_server
SCRIPTS=("$PY" scripts/checks/lib/sentinel_scripts.py --valkey-server "$VALKEY_SERVER_BIN")
"${SCRIPTS[@]}" --sentinel-script infra/helm/valkey-sentinel/files/sentinel.sh \
  --valkey-values infra/helm/valkey/values.yaml || fail "Sentinel scripts"
# negative: Sentinel open without a password, Sentinel logging in with the wrong
# password, a pod Sentinel names primary that keeps the chart's replicaof
"$PY" - "$BUILD/bad" <<'PY'
import pathlib, sys
out = pathlib.Path(sys.argv[1])
s = pathlib.Path("infra/helm/valkey-sentinel/files/sentinel.sh").read_text()
open_s = s.replace('requirepass "$REDISCLI_AUTH"\n', "")
wrong = open_s.replace('auth-pass $MASTER_NAME "$VALKEY_SENTINEL_PASSWORD"', 'auth-pass $MASTER_NAME "$REDISCLI_AUTH"')
assert s != open_s != wrong
(out / "sentinel.sh").write_text(wrong)
v = pathlib.Path("infra/helm/valkey/values.yaml").read_text()
keep = v.replace("          sed -i '/^replicaof /d' \"$conf\"\n", "")
assert keep != v
(out / "valkey-values.yaml").write_text(keep)
PY
rejects "Sentinel scripts that open Sentinel, log in wrongly and keep a stale replicaof" \
  "${SCRIPTS[@]}" --sentinel-script "$BUILD/bad/sentinel.sh" --valkey-values "$BUILD/bad/valkey-values.yaml"
says "Sentinel answers without a password" "Sentinel cannot log in to it" "valkey-1, named primary, still replicates"

step "three Sentinels from sentinel.sh: each binary's own Sentinel user, read-only; a failover gets its votes"
ACL=("$PY" scripts/checks/lib/sentinel_acl.py --valkey-server "$VALKEY_SERVER_BIN" \
  --valkey-values infra/helm/valkey/values.yaml)
"${ACL[@]}" --sentinel-script infra/helm/valkey-sentinel/files/sentinel.sh || fail "Sentinel ACL users and failover"
# negative: no Sentinel users for the binaries (Sentinel knows only default), and
# Sentinels logging in to each other as a user they do not have (no votes)
"$PY" - "$BUILD/bad/sentinel-acl.sh" <<'PY'
import pathlib, sys
s = pathlib.Path("infra/helm/valkey-sentinel/files/sentinel.sh").read_text()
kept = [l for l in s.splitlines(keepends=True) if not l.startswith(("user tasklane-", "user $VALKEY_SENTINEL_USER"))]
assert len(kept) == len(s.splitlines()) - 4
pathlib.Path(sys.argv[1]).write_text("".join(kept))
PY
rejects "Sentinels without the binaries' users and without the user they log in to each other as" \
  "${ACL[@]}" --sentinel-script "$BUILD/bad/sentinel-acl.sh"
says "tasklane-api cannot ask Sentinel for the primary" "tasklane-worker cannot ask Sentinel for the primary" \
  "no failover within"

step "upstream chart values (nats, valkey) against their schemas, offline"
for c in nats valkey; do
  "$CHECK_TOOLS/check-jsonschema" --schemafile "infra/helm/$c/values.schema.json" "infra/helm/$c/values.yaml" \
    || fail "$c values"
done
# negative: a literal password, a 1-node cluster, AOF off
"$PY" - "$BUILD/bad" <<'PY'
import re, sys, pathlib
out = pathlib.Path(sys.argv[1])
q = pathlib.Path("infra/helm/nats/values.yaml").read_text()
(out / "nats-literal-password.yaml").write_text(q.replace("<< $TASKLANE_API_PASSWORD >>", "hunter2", 1))
(out / "nats-one-node.yaml").write_text(re.sub(r"replicas: 3", "replicas: 1", q, count=1))
v = pathlib.Path("infra/helm/valkey/values.yaml").read_text()
(out / "valkey-no-aof.yaml").write_text(v.replace("appendonly yes", "appendonly no"))
PY
for bad in nats-literal-password:nats nats-one-node:nats valkey-no-aof:valkey; do
  rejects "${bad%%:*}" "$CHECK_TOOLS/check-jsonschema" \
    --schemafile "infra/helm/${bad#*:}/values.schema.json" "$BUILD/bad/${bad%%:*}.yaml"
done

step "docker-compose.yml against the compose-spec schema"
"$CHECK_TOOLS/check-jsonschema" --builtin-schema vendor.compose-spec docker-compose.yml || fail "compose schema"
for f in infra/compose/grafana/provisioning/dashboards/tasklane.yaml infra/compose/prometheus.yml; do
  [ -f "$f" ] || fail "missing $f"
done
grep -q 'infra/monitoring/grafana/dashboards' docker-compose.yml || fail "compose must mount the project dashboards"

step "checkov policy scan (rendered charts, manifests, Dockerfile)"
mkdir -p "$BUILD/scan"
cp "$BUILD"/*.yaml infra/namespaces.yaml "$BUILD/scan/"
BC_SKIP_MAPPING=TRUE "$CHECKOV" --config-file scripts/checks/lib/checkov.yaml \
  -d "$BUILD/scan" --framework kubernetes || fail "checkov kubernetes"
BC_SKIP_MAPPING=TRUE "$CHECKOV" --config-file scripts/checks/lib/checkov.yaml \
  -f Dockerfile --framework dockerfile || fail "checkov dockerfile"

finish 20-k8s
