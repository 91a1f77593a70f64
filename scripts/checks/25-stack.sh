#!/usr/bin/env bash
# The whole stack as the docs deploy it, rendered and checked as one: the
# upstream NATS and Valkey charts (at their pinned versions, with our values),
# infra/helm/base, the Valkey Sentinels, the api and worker charts with each environment's values,
# the exporters of infra/monitoring and the Argo CD objects. Then the facts no
# single chart can check (scripts/checks/lib/stack/): references to Secrets,
# ConfigMaps and ServiceAccounts, addresses, TLS between clients and servers,
# the metrics dashboards, alerts and autoscalers read, network flows, pod
# security of every pod, our values' keys against the upstream charts, and
# GitOps against the push path. Each check is also fed the bug it exists for
# (the state of the repository before it) and must reject it.
#
# The upstream charts come from UPSTREAM_CHARTS (default ../shared/upstream/charts,
# unpacked copies), or, when UPSTREAM_RENDERS names a directory of renders made
# by scripts/render-upstream.sh (the pipeline's upstream-charts job), from there.
# With neither, the check says so and skips.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

KUBE_VERSION=1.31.0
BUILD=build/stack
UPSTREAM_CHARTS=${UPSTREAM_CHARTS:-../shared/upstream/charts}

step "installing pinned tools"
ensure_helm
ensure_check_tools
PY=$CHECK_TOOLS/python
CHECK=(env PYTHONDONTWRITEBYTECODE=1 "$PY" scripts/checks/lib/stack_check.py)
rm -rf "$BUILD" && mkdir -p "$BUILD/upstream" "$BUILD/bad"

step "upstream charts (nats, valkey)"
if [ -n "${UPSTREAM_RENDERS:-}" ]; then
  cp "$UPSTREAM_RENDERS/nats.yaml" "$UPSTREAM_RENDERS/valkey.yaml" "$BUILD/upstream/"
  echo "using the renders in $UPSTREAM_RENDERS"
elif [ -d "$UPSTREAM_CHARTS" ]; then
  UPSTREAM_CHARTS=$UPSTREAM_CHARTS scripts/render-upstream.sh "$BUILD/upstream"
else
  echo "skipped: $UPSTREAM_CHARTS is absent and UPSTREAM_RENDERS is unset, so the upstream"
  echo "charts cannot be rendered here; the pipeline's upstream-charts job renders them from"
  echo "the chart repositories and runs this check on its renders."
  exit 0
fi
chart_values() {  # the upstream chart's own default values, when the chart is at hand
  local pin=infra/helm/$1/upstream.yaml
  printf '%s/%s-%s/values.yaml' "$UPSTREAM_CHARTS" "$(sed -n 's/^chart: *//p' "$pin")" \
    "$(sed -n 's/^version: *//p' "$pin")"
}

render() {  # render OUT CHART RELEASE [helm args...]
  local out=$1 chart=$2 release=$3; shift 3
  helm template "$release" "$chart" --namespace tasklane --kube-version "$KUBE_VERSION" \
    --api-versions monitoring.coreos.com/v1 --api-versions keda.sh/v1alpha1 \
    --api-versions cert-manager.io/v1 --api-versions external-secrets.io/v1 "$@" > "$out"
}

step "tasklane's charts per environment"
build_chart_dependencies
digest=sha256:$(printf '%064d' 7)
pin=(--set-string image.tag=0123abc --set-string "image.digest=$digest")
for env_name in dev prod; do
  dir=$BUILD/$env_name
  mkdir -p "$dir"
  render "$dir/base.yaml" infra/helm/base tasklane-base
  render "$dir/base-external-secrets.yaml" infra/helm/base tasklane-base --set externalSecrets.enabled=true
  render "$dir/valkey-sentinel.yaml" infra/helm/valkey-sentinel valkey-sentinel
  for c in api worker; do
    render "$dir/$c.yaml" "infra/helm/$c" "tasklane-$c" -f "infra/environments/$env_name/$c.yaml" "${pin[@]}"
  done
  # The other shapes an environment may switch on: the worker's HPA without
  # KEDA, and the gateway's public edge.
  render "$dir/worker-hpa.yaml" infra/helm/worker tasklane-worker -f "infra/environments/$env_name/worker.yaml" \
    "${pin[@]}" --set autoscaling.mode=hpa
  render "$dir/api-ingress.yaml" infra/helm/api tasklane-api -f "infra/environments/$env_name/api.yaml" \
    "${pin[@]}" --set ingress.enabled=true --set ingress.host=tasklane.example.com
  render "$dir/argocd.yaml" infra/argocd tasklane-gitops -f "infra/environments/$env_name/argocd.yaml"
  echo "rendered $dir: $(ls "$dir" | tr '\n' ' ')"
done

EXPORTERS=(infra/monitoring/exporters/*.yaml)
UP=("$BUILD/upstream/nats.yaml" "$BUILD/upstream/valkey.yaml")
SENTINEL_RENDER=$BUILD/dev/valkey-sentinel.yaml
DOC=(--operator-doc docs/how-to-run.md ci/create-secrets.sh)
MON=infra/monitoring
METRICS=(--binaries "$MON/metric-names.txt" --kps-values "$MON/kube-prometheus-stack-values.yaml"
  --adapter "$MON/prometheus-adapter-values.yaml" --queries "$MON"/grafana/dashboards/*.json "$MON/alerts/tasklane-rules.yaml")
FLOWS=(--flows scripts/checks/lib/stack/flows.yaml)

for env_name in dev prod; do
  d=$BUILD/$env_name
  stack=("${UP[@]}" "$d/base.yaml" "$d/valkey-sentinel.yaml" "$d/api.yaml" "$d/worker.yaml" "${EXPORTERS[@]}")
  # The same stack with the gateway's edge and the worker's HPA switched on.
  variant=("${UP[@]}" "$d/base.yaml" "$d/valkey-sentinel.yaml" "$d/api-ingress.yaml" "$d/worker-hpa.yaml" "${EXPORTERS[@]}")
  step "$env_name: Secrets, ConfigMaps and ServiceAccounts exist (rendered, or created by the operator)"
  "${CHECK[@]}" refs "${stack[@]}" "${DOC[@]}" || fail "refs ($env_name)"
  "${CHECK[@]}" refs "${variant[@]}" "${DOC[@]}" || fail "refs with the edge and the HPA ($env_name)"
  echo "with External Secrets instead of the operator:"
  "${CHECK[@]}" refs "${UP[@]}" "$d/base-external-secrets.yaml" "$d/valkey-sentinel.yaml" "$d/api.yaml" "$d/worker.yaml" \
    "${EXPORTERS[@]}" || fail "refs through External Secrets ($env_name)"
  step "$env_name: every address is a Service port with pods behind it"
  "${CHECK[@]}" endpoints "${stack[@]}" "${DOC[@]}" || fail "endpoints ($env_name)"
  "${CHECK[@]}" endpoints "${variant[@]}" "${DOC[@]}" || fail "endpoints with the edge ($env_name)"
  step "$env_name: TLS of clients matches the servers"
  "${CHECK[@]}" tls "${stack[@]}" "${DOC[@]}" || fail "tls ($env_name)"
  "${CHECK[@]}" tls "${UP[@]}" "$d/base-external-secrets.yaml" "$d/api.yaml" "$d/worker.yaml" \
    || fail "tls through External Secrets ($env_name)"
  step "$env_name: every metric read is produced and scraped once"
  "${CHECK[@]}" metrics "${stack[@]}" "${METRICS[@]}" || fail "metrics ($env_name)"
  "${CHECK[@]}" metrics "${variant[@]}" "${METRICS[@]}" || fail "metrics with the HPA ($env_name)"
  step "$env_name: network policies allow the needed flows and nothing else"
  "${CHECK[@]}" netpol "${variant[@]}" "${FLOWS[@]}" || fail "netpol ($env_name)"
  step "$env_name: restricted pod security for every pod"
  "${CHECK[@]}" pss "${stack[@]}" || fail "pss ($env_name)"
  step "$env_name: Argo CD deploys what the pipeline deploys"
  "${CHECK[@]}" gitops "$d/argocd.yaml" --env "$env_name" --deploy-script ci/deploy.sh \
    --pins infra/helm/nats/upstream.yaml infra/helm/valkey/upstream.yaml || fail "gitops ($env_name)"
done

step "Sentinel runs the Valkey build the pinned valkey chart runs"
"${CHECK[@]}" same-image "$BUILD/upstream/valkey.yaml" "$SENTINEL_RENDER" --image valkey/valkey \
  || fail "Sentinel and Valkey images"

step "our values' keys are keys of the upstream charts"
for c in nats valkey; do
  if [ -f "$(chart_values "$c")" ]; then
    "${CHECK[@]}" values-keys --ours "infra/helm/$c/values.yaml" --chart-values "$(chart_values "$c")" \
      || fail "values keys ($c)"
  else
    echo "skipped for $c: $(chart_values "$c") is not at hand (renders only)"
  fi
done

step "negative: each check rejects the bug it exists for"
d=$BUILD/dev
bad=$BUILD/bad
up_chart() { printf '%s/%s-%s' "$UPSTREAM_CHARTS" "$1" "$(sed -n 's/^version: *//p' "infra/helm/$1/upstream.yaml")"; }
with_file() {  # with_file OUT SOURCE: a copy of SOURCE edited by the python on stdin (text in t)
  "$PY" -c "import sys; t=open(sys.argv[1]).read(); exec(sys.stdin.read()); open(sys.argv[2], 'w').write(t)" "$2" "$1"
}
# Clients on plain nats:// without a CA, as the environment values once were.
render "$bad/api-plain.yaml" infra/helm/api tasklane-api -f infra/environments/dev/api.yaml "${pin[@]}" \
  --set config.nats.url=nats://nats.tasklane.svc.cluster.local:4222 --set config.nats.tls.enabled=false
rejects "a plain nats:// gateway against the TLS-only NATS" \
  "${CHECK[@]}" tls "${UP[@]}" "$d/base.yaml" "$bad/api-plain.yaml" "$d/worker.yaml" "${DOC[@]}"
says "NATS requires TLS with a private CA" "use tls://"
# A server certificate without the name the clients dial.
render "$bad/base-names.yaml" infra/helm/base tasklane-base --set nats.service=queue
rejects "a NATS certificate without the Service name" \
  "${CHECK[@]}" tls "${UP[@]}" "$bad/base-names.yaml" "$d/api.yaml" "$d/worker.yaml" "${DOC[@]}"
says "host nats.tasklane.svc.cluster.local is not in the server certificate's names"
# KEDA on the client Service, which has no monitoring port.
render "$bad/worker-keda.yaml" infra/helm/worker tasklane-worker -f infra/environments/dev/worker.yaml "${pin[@]}" \
  --set autoscaling.keda.natsMonitoringEndpoint=nats.tasklane.svc.cluster.local:8222
rejects "KEDA polling nats:8222" "${CHECK[@]}" endpoints "${UP[@]}" "$d/base.yaml" "$d/api.yaml" "$bad/worker-keda.yaml" "${DOC[@]}"
says "Service nats has no port 8222"
# The Valkey URL of the Sentinel/HAProxy setup the chart never had.
with_file "$bad/create-secrets.sh" ci/create-secrets.sh <<<'t = t.replace("@valkey.$ns", "@valkey-haproxy.$ns")'
rejects "a Valkey URL through valkey-haproxy" \
  "${CHECK[@]}" endpoints "${stack[@]}" --operator-doc docs/how-to-run.md "$bad/create-secrets.sh"
says "no Service valkey-haproxy.tasklane.svc.cluster.local"
# The exporter reading a Secret nobody creates, optionally.
with_file "$bad/valkey-exporter.yaml" infra/monitoring/exporters/valkey-exporter.yaml <<<'t = t.replace("name: valkey-users\n                  key: tasklane-exporter", "name: valkey-auth\n                  key: password\n                  optional: true")'
rejects "the exporter's valkey-auth Secret" \
  "${CHECK[@]}" refs "${UP[@]}" "$d/base.yaml" "$d/api.yaml" "$d/worker.yaml" "$bad/valkey-exporter.yaml" \
  infra/monitoring/exporters/nats-podmonitor.yaml "${DOC[@]}"
says "Secret valkey-auth is not rendered" "is optional"
# A Secret the operator doc forgot.
with_file "$bad/how-to-run.md" docs/how-to-run.md <<<'t = "\n".join(l for l in t.split("\n") if "`valkey-users`" not in l)'
rejects "a Secret missing from the operator table" "${CHECK[@]}" refs "${stack[@]}" --operator-doc "$bad/how-to-run.md"
says "Secret valkey-users is not rendered"
# The HPA reading the unprefixed name the exporter never produces.
render "$bad/worker-hpa-name.yaml" infra/helm/worker tasklane-worker -f infra/environments/dev/worker.yaml "${pin[@]}" \
  --set autoscaling.mode=hpa --set autoscaling.hpa.metricName=jetstream_consumer_num_pending
with_file "$bad/adapter.yaml" "$MON/prometheus-adapter-values.yaml" <<<'t = t.replace("nats_consumer_num_pending", "jetstream_consumer_num_pending")'
rejects "the HPA on jetstream_consumer_num_pending" \
  "${CHECK[@]}" metrics "${UP[@]}" "$d/base.yaml" "$d/api.yaml" "$bad/worker-hpa-name.yaml" "${EXPORTERS[@]}" \
  "${METRICS[@]}"
says "external metric jetstream_consumer_num_pending is not served"
rejects "an adapter rule for a name nothing produces" \
  "${CHECK[@]}" metrics "${variant[@]}" "${METRICS[@]}" --adapter "$bad/adapter.yaml"
says "jetstream_consumer_num_pending is produced by neither"
# A dashboard filtering on a job no monitor produces.
with_file "$bad/dashboard.json" "$MON/grafana/dashboards/tasklane.json" <<<'t = t.replace("job=\\\"valkey-exporter\\\"", "job=\\\"valkey\\\"")'
rejects "a dashboard reading job=valkey" "${CHECK[@]}" metrics "${stack[@]}" "${METRICS[@]}" --queries "$bad/dashboard.json"
says 'job="valkey" is the job of no rendered monitor'
# Network policies: the exporter mislabelled, nats-box forgotten, Prometheus'
# whole namespace let in.
render "$bad/base-exporter.yaml" infra/helm/base tasklane-base --set 'pods.valkeyExporter.app\.kubernetes\.io/name=redis-exporter'
with_file "$bad/base-nobox.yaml" "$d/base.yaml" <<<'t = t.replace("        - podSelector:\n            matchLabels:\n              app.kubernetes.io/component: nats-box\n              app.kubernetes.io/name: nats\n", "")'
with_file "$bad/api-wide.yaml" "$d/api.yaml" <<<'t = t.replace("              kubernetes.io/metadata.name: monitoring\n          podSelector:\n            matchLabels:\n              app.kubernetes.io/name: prometheus\n", "              kubernetes.io/metadata.name: monitoring\n")'
rejects "policies that block the exporter and nats-box and open the gateway to all of monitoring" \
  "${CHECK[@]}" netpol "${UP[@]}" "$bad/base-exporter.yaml" "$bad/api-wide.yaml" "$d/worker.yaml" "${EXPORTERS[@]}" "${FLOWS[@]}"
says "needed flow valkey-exporter -> valkey:6379/TCP is denied" "needed flow prometheus -> valkey-exporter:9121/TCP is denied" \
  "anyone-in-monitoring -> gateway:9090/TCP is allowed but no flow needs it"
rejects "a NATS policy without nats-box" \
  "${CHECK[@]}" netpol "${UP[@]}" "$bad/base-nobox.yaml" "$d/api.yaml" "$d/worker.yaml" "${EXPORTERS[@]}" "${FLOWS[@]}"
says "needed flow nats-box -> nats-server:4222/TCP is denied"
# Sentinel: the workers' egress to it mislabelled, its port opened to the whole
# namespace, its pods without a seccomp profile, tasklane pointed at a Sentinel
# port the valkey Service does not have, and a Valkey build apart from the servers'.
render "$bad/worker-sentinel.yaml" infra/helm/worker tasklane-worker -f infra/environments/dev/worker.yaml "${pin[@]}" \
  --set 'networkPolicy.sentinelPodLabels.app\.kubernetes\.io/name=sentinel'
with_file "$bad/base-sentinel-open.yaml" "$d/base.yaml" <<<'i = t.index("name: valkey-sentinel\n"); j = t.index("  ingress:\n", i) + len("  ingress:\n"); t = t[:j] + "    - ports:\n        - port: 26379\n          protocol: TCP\n      from:\n        - podSelector: {}\n" + t[j:]'
rejects "Sentinel policies that block the workers and let the whole namespace in" \
  "${CHECK[@]}" netpol "${UP[@]}" "$bad/base-sentinel-open.yaml" "$SENTINEL_RENDER" "$d/api.yaml" "$bad/worker-sentinel.yaml" \
  "${EXPORTERS[@]}" "${FLOWS[@]}"
says "needed flow worker -> valkey-sentinel:26379/TCP is denied" \
  "anyone-in-tasklane -> valkey-sentinel:26379/TCP is allowed but no flow needs it"
with_file "$bad/sentinel-seccomp.yaml" "$SENTINEL_RENDER" <<<'t = t.replace("        seccompProfile:\n          type: RuntimeDefault\n", "")'
rejects "Sentinel pods without a seccomp profile" "${CHECK[@]}" pss "$bad/sentinel-seccomp.yaml"
says "container sentinel: seccompProfile is None"
render "$bad/api-sentinel-port.yaml" infra/helm/api tasklane-api -f infra/environments/dev/api.yaml "${pin[@]}" \
  --set config.valkey.sentinels=valkey.tasklane.svc.cluster.local:26379
rejects "Sentinels looked for on the valkey Service" \
  "${CHECK[@]}" endpoints "${UP[@]}" "$d/base.yaml" "$SENTINEL_RENDER" "$bad/api-sentinel-port.yaml" "$d/worker.yaml" "${DOC[@]}"
says "Service valkey has no port 26379"
render "$bad/sentinel-image.yaml" infra/helm/valkey-sentinel valkey-sentinel --set image.tag=8.1.1
rejects "Sentinel on another Valkey build" \
  "${CHECK[@]}" same-image "$BUILD/upstream/valkey.yaml" "$bad/sentinel-image.yaml" --image valkey/valkey
says "valkey/valkey:8.1.1: StatefulSet/valkey-sentinel" "runs in 2 builds"
# Argo CD as it was: project default, the lint fixture as values, production on main.
with_file "$bad/argocd.yaml" "$BUILD/prod/argocd.yaml" <<<'t = t.replace("targetRevision: deploy/prod", "targetRevision: main").replace("../../environments/prod/api.yaml", "ci/production-values.yaml").replace("project: tasklane-prod", "project: default")'
rejects "Argo CD on main with ci/production-values.yaml in project default" \
  "${CHECK[@]}" gitops "$bad/argocd.yaml" --env prod --deploy-script ci/deploy.sh \
  --pins infra/helm/nats/upstream.yaml infra/helm/valkey/upstream.yaml
says "project 'default' is not rendered here"
with_file "$bad/argocd-values.yaml" "$BUILD/prod/argocd.yaml" <<<'t = t.replace("targetRevision: deploy/prod", "targetRevision: main").replace("../../environments/prod/api.yaml", "ci/production-values.yaml")'
rejects "Argo CD production on main with the lint fixture" \
  "${CHECK[@]}" gitops "$bad/argocd-values.yaml" --env prod --deploy-script ci/deploy.sh \
  --pins infra/helm/nats/upstream.yaml infra/helm/valkey/upstream.yaml
says "production follows main" "but the pipeline deploys ../../environments/prod/api.yaml" "is a lint fixture"
# Values the Valkey chart silently ignores.
with_file "$bad/valkey-values.yaml" infra/helm/valkey/values.yaml <<<'t += "haproxy:\n  enabled: true\n"'
if [ -d "$(up_chart valkey)" ]; then
  rejects "Valkey values for an HAProxy the chart does not have" \
    "${CHECK[@]}" values-keys --ours "$bad/valkey-values.yaml" --chart-values "$(chart_values valkey)"
  says "haproxy is not a value of the chart"
  # The chart's own PodMonitor next to ours, and a nats-box without its security context.
  helm template nats "$(up_chart nats)" -n tasklane --kube-version "$KUBE_VERSION" --api-versions monitoring.coreos.com/v1 \
    -f infra/helm/nats/values.yaml --set promExporter.podMonitor.enabled=true --set natsBox.podTemplate.merge=null \
    > "$bad/nats.yaml"
  rejects "NATS scraped by two PodMonitors" \
    "${CHECK[@]}" metrics "$bad/nats.yaml" "$BUILD/upstream/valkey.yaml" "$d/base.yaml" "$d/api.yaml" "$d/worker.yaml" \
    "${EXPORTERS[@]}" "${METRICS[@]}"
  says "is scraped twice"
  rejects "a nats-box the restricted Pod Security Standard refuses" "${CHECK[@]}" pss "$bad/nats.yaml"
  says "nats-box: runAsNonRoot is not true" "seccompProfile is None"
else
  echo "the chart-level negatives need the unpacked charts ($UPSTREAM_CHARTS); skipped with renders only"
fi

finish 25-stack
