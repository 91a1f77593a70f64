#!/usr/bin/env bash
# Static checks of the monitoring assets: alert rules (promtool check + unit
# tests), PromQL in rules and dashboards (parses, uses only catalogued
# metrics), the Grafana dashboard and its ConfigMaps, the PrometheusRule and
# exporter manifests against their schemas, runbook anchors, the Loki and
# Alloy values, and yamllint. Each of our own checkers (monitoring.py and the
# ConfigMap generator) is also fed broken input and must reject it.
set -euo pipefail
cd "$(dirname "$0")/../.."

# shellcheck source=scripts/lib/tools.sh
source scripts/lib/tools.sh
# shellcheck source=scripts/lib/report.sh
source scripts/lib/report.sh

step "installing pinned tools into .tools/"
ensure_check_tools
ensure_promtool
ensure_amtool
PY=$CHECK_TOOLS/python
"$PROMTOOL" --version 2>&1 | head -1
"$AMTOOL" --version 2>&1 | head -1

MON=infra/monitoring
RULES=$MON/alerts/tasklane-rules.yaml
DASHBOARDS=("$MON"/grafana/dashboards/*.json)
CHECK=(env PYTHONDONTWRITEBYTECODE=1 "$PY" scripts/checks/lib/monitoring.py)
RUNBOOK_PREFIX=https://github.com/tasklane/tasklane/blob/main/docs/runbooks.md
ALERTS=(TasklaneApiHighErrorRate TasklaneApiHighLatency TasklanePublishErrors
  TasklaneBacklogGrowing TasklaneTaskStuck TasklaneNoWorkerConsuming
  TasklaneDeadLettersIncreasing TasklaneStoreErrors TasklanePodRestarting
  TasklaneNatsDown TasklaneValkeyDown TasklaneSentinelQuorumLost TasklaneSentinelDown
  TasklaneValkeyFailover)
PANELS=("API request rate" "API error rate" "API latency p50 / p95 / p99"
  "Queue backlog" "Backlog trend" "Oldest task age" "Processing rate by outcome"
  "Task duration p50 / p95 / p99" "Queue wait p50 / p95" "Retries and dead letters"
  "In flight" "Valkey ops/s" "JetStream consumer" "Scrape health" "CPU per pod"
  "Memory per pod" "Restarts" "Dependency up")

WORK=build/monitoring
rm -rf "$WORK"
mkdir -p "$WORK/bad"

step "yamllint"
"$CHECK_TOOLS/yamllint" -c "$MON/.yamllint.yaml" --strict "$MON" || fail "yamllint"

step "promtool check rules + test rules (spec.groups of $RULES)"
"${CHECK[@]}" extract-rules "$RULES" "$WORK/tasklane-rules.groups.yaml" || fail "extract rules"
cp "$MON"/alerts/tests/*.yaml "$WORK/"
(
  cd "$WORK"
  "$PROMTOOL" check rules tasklane-rules.groups.yaml
  tests=()
  for t in ../../"$MON"/alerts/tests/*.yaml; do tests+=("$(basename "$t")"); done
  "$PROMTOOL" test rules "${tests[@]}"
) || fail "promtool"

step "PromQL parses and uses only catalogued metric names"
PROMQL=("${CHECK[@]}" promql --catalog "$MON/metric-names.txt" --external "$MON/external-metric-names.txt")
"${PROMQL[@]}" --all-external-used "${DASHBOARDS[@]}" "$RULES" || fail "promql"
cat > "$WORK/bad/bad-syntax.yaml" <<'EOF'
apiVersion: monitoring.coreos.com/v1
kind: PrometheusRule
metadata: {name: bad}
spec:
  groups:
    - name: bad
      rules:
        - alert: Unbalanced
          expr: sum(rate(worker_tasks_processed_total[5m]) > 0
EOF
rejects "unbalanced parenthesis in a rule" "${PROMQL[@]}" "$WORK/bad/bad-syntax.yaml"
says "unclosed left parenthesis"
sed 's/worker_queue_backlog{namespace/worker_queue_backlogg{namespace/' "${DASHBOARDS[0]}" > "$WORK/bad/unknown-metric.json"
rejects "misspelt metric name in the dashboard" "${PROMQL[@]}" "$WORK/bad/unknown-metric.json"
says "unknown metric 'worker_queue_backlogg'"

step "dashboard JSON, uids, datasource variables, panels"
DASH_ARGS=(--require-variable datasource --require-variable namespace)
for p in "${PANELS[@]}"; do DASH_ARGS+=(--require-panel "$p"); done
"${CHECK[@]}" dashboard "${DASH_ARGS[@]}" "${DASHBOARDS[@]}" || fail "dashboard"
"$PY" - "${DASHBOARDS[0]}" "$WORK/bad/fixed-datasource.json" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
d["panels"][1]["datasource"] = {"type": "prometheus", "uid": "prometheus"}
json.dump(d, open(sys.argv[2], "w"))
EOF
rejects "panel with a hard-coded datasource" "${CHECK[@]}" dashboard "$WORK/bad/fixed-datasource.json"
says "is not a datasource variable"
rejects "two dashboards with one uid" "${CHECK[@]}" dashboard "${DASHBOARDS[0]}" "${DASHBOARDS[0]}"
says "uid 'tasklane-overview' also used by"

step "ConfigMaps in sync with dashboards/*.json and datasources.yaml"
"$PY" "$MON/grafana/gen-dashboard-configmap.py" --check || fail "configmap sync"
cp -r "$MON/grafana" "$WORK/bad/grafana"
sed -i 's/"title": "Oldest task age"/"title": "Oldest task"/' "$WORK/bad/grafana/dashboards/tasklane.json"
rejects "dashboard edited without regenerating the ConfigMap" "$PY" "$WORK/bad/grafana/gen-dashboard-configmap.py" --check
says "dashboard-configmap.yaml is out of date"

step "PrometheusRule, monitors and manifests against prometheus-operator and Kubernetes 1.31 schemas"
"${CHECK[@]}" k8s "$RULES" "$MON"/exporters/*.yaml "$MON"/grafana/*-configmap.yaml || fail "schemas"
sed 's/^          for: 5m$/          for: 5 minutes/' "$RULES" > "$WORK/bad/bad-for.yaml"
rejects "PrometheusRule with an invalid 'for'" "${CHECK[@]}" k8s "$WORK/bad/bad-for.yaml"
says "input_value='5 minutes'"
sed 's/imagePullPolicy:/imagePulPolicy:/' "$MON/exporters/valkey-exporter.yaml" > "$WORK/bad/bad-deployment.yaml"
rejects "Deployment with a misspelt field" "${CHECK[@]}" k8s "$WORK/bad/bad-deployment.yaml"
says "'imagePulPolicy' was unexpected"

step "Alertmanager: the config loads, critical pages, warning goes to the team channel (amtool)"
"$PY" - "$MON/kube-prometheus-stack-values.yaml" "$WORK/alertmanager.yaml" <<'EOF' || fail "extract alertmanager config"
import sys, yaml
yaml.safe_dump(yaml.safe_load(open(sys.argv[1]))["alertmanager"]["config"], open(sys.argv[2], "w"))
EOF
routes() {  # routes CONFIG LABEL=VALUE...: the receivers an alert with these labels reaches
  "$AMTOOL" config routes test --config.file="$1" "${@:2}" 2>/dev/null
}
route_case() {  # route_case CONFIG WANT LABEL=VALUE...
  local got
  got=$(routes "$1" "${@:3}")
  if [ "$got" = "$2" ]; then echo "  ${*:3} -> $got"; else fail "${*:3} reaches '$got', want '$2'"; fi
}
"$AMTOOL" check-config "$WORK/alertmanager.yaml" || fail "amtool check-config"
route_case "$WORK/alertmanager.yaml" pager,team-chat alertname=TasklaneNatsDown severity=critical namespace=tasklane
route_case "$WORK/alertmanager.yaml" team-chat alertname=TasklaneBacklogGrowing severity=warning namespace=tasklane
route_case "$WORK/alertmanager.yaml" null alertname=Watchdog severity=none
sed 's/receiver: pager/receiver: pagr/' "$WORK/alertmanager.yaml" > "$WORK/bad/alertmanager-undefined.yaml"
rejects "a route to a receiver that is not defined" "$AMTOOL" check-config "$WORK/bad/alertmanager-undefined.yaml"
says 'undefined receiver "pagr"'
"$PY" - "$WORK/alertmanager.yaml" "$WORK/bad/alertmanager-nopage.yaml" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["route"]["routes"] = [r for r in c["route"]["routes"] if r["receiver"] != "pager"]
yaml.safe_dump(c, open(sys.argv[2], "w"))
EOF
rejects "a tree where critical alerts page nobody" \
  bash -c '[ "$("$0" config routes test --config.file="$1" severity=critical)" = pager,team-chat ]' \
  "$AMTOOL" "$WORK/bad/alertmanager-nopage.yaml"

step "alert labels, annotations and runbook anchors in docs/runbooks.md"
ALERT_ARGS=(--rules "$RULES" --url-prefix "$RUNBOOK_PREFIX" --severity critical --severity warning)
for a in "${ALERTS[@]}"; do ALERT_ARGS+=(--require-alert "$a"); done
"${CHECK[@]}" alerts "${ALERT_ARGS[@]}" --runbooks docs/runbooks.md || fail "runbooks"
sed 's/^## TasklaneStoreErrors$/## Store errors/' docs/runbooks.md > "$WORK/bad/runbooks.md"
rejects "runbook section renamed" "${CHECK[@]}" alerts "${ALERT_ARGS[@]}" --runbooks "$WORK/bad/runbooks.md"
says "anchor '#tasklanestoreerrors' not found"

step "Loki and Alloy values against their schemas; log labels stay low-cardinality"
"${CHECK[@]}" schema --schema "$MON/loki/loki-values.schema.json" "$MON/loki/loki-values.yaml" || fail "loki values"
"${CHECK[@]}" schema --schema "$MON/loki/alloy-values.schema.json" "$MON/loki/alloy-values.yaml" || fail "alloy values"
"${CHECK[@]}" schema --schema "$MON/tempo/tempo-values.schema.json" "$MON/tempo/tempo-values.yaml" || fail "tempo values"
sed 's/endpoint: "0.0.0.0:4318"/endpoint: "0.0.0.0:4317"/' "$MON/tempo/tempo-values.yaml" > "$WORK/bad/tempo-values.yaml"
rejects "Tempo values without the OTLP/HTTP receiver the charts point at" \
  "${CHECK[@]}" schema --schema "$MON/tempo/tempo-values.schema.json" "$WORK/bad/tempo-values.yaml"
LABEL_ARGS=(--allowed namespace --allowed app --allowed level)
for f in level request_id task_id task_type attempt trace_id; do LABEL_ARGS+=(--json-field "$f"); done
for f in request_id task_id task_type attempt trace_id; do LABEL_ARGS+=(--metadata "$f"); done
# The binaries put span fields (task_id, attempt, ...) inside `spans`: the
# pipeline's JMESPath must find them there in real-shaped lines.
LABEL_ARGS+=(--samples scripts/checks/lib/log-samples.yaml)
"${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$MON/loki/alloy-values.yaml" || fail "log labels"
sed 's/retention_enabled: true/retention_enabled: false/; s/retention_period:/retention_perod:/' \
  "$MON/loki/loki-values.yaml" > "$WORK/bad/loki-values.yaml"
rejects "Loki values without retention" \
  "${CHECK[@]}" schema --schema "$MON/loki/loki-values.schema.json" "$WORK/bad/loki-values.yaml"
says "retention_enabled: True was expected" "'retention_period' is a required property"
sed 's/^            level = "",$/            level = "",\n            task_id = "",/' \
  "$MON/loki/alloy-values.yaml" > "$WORK/bad/alloy-values.yaml"
rejects "Alloy pipeline that labels by task_id" "${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$WORK/bad/alloy-values.yaml"
says "label 'task_id' is not one of the low-cardinality labels"
sed -E 's/^( *task_id *= *)".*",$/\1"task_id",/' "$MON/loki/alloy-values.yaml" > "$WORK/bad/alloy-top-level-only.yaml"
rejects "Alloy pipeline that reads task_id only at the top level (misses the task span)" \
  "${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$WORK/bad/alloy-top-level-only.yaml"
says "'task_id' extracted as None"

finish 30-monitoring
