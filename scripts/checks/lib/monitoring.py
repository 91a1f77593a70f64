"""Static checks of tasklane's monitoring assets (infra/monitoring, docs/runbooks.md).

Called by scripts/checks/30-monitoring.sh, one sub-command per check, each
printing what it looked at and exiting non-zero with every problem it found
(not just the first), so one run shows the whole list to fix.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import yaml

GRAFANA_VARIABLES = {
    # Grafana's built-in interval variables become a plain duration, user
    # variables a label value, so the query parses exactly as Grafana would send it.
    "$__rate_interval": "5m",
    "${__rate_interval}": "5m",
    "$__interval": "1m",
    "${__interval}": "1m",
    "$__range": "1h",
    "${__range}": "1h",
}
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


class Problems:
    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, where: str, msg: str) -> None:
        self.items.append(f"{where}: {msg}")

    def finish(self, what: str) -> int:
        if self.items:
            for item in self.items:
                print(f"  FAIL {item}")
            print(f"{what}: {len(self.items)} problem(s)")
            return 1
        print(f"{what}: ok")
        return 0


def load_yaml_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def read_names(path: Path) -> set[str]:
    names = set()
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            names.add(line)
    return names


# --------------------------------------------------------------------------- rules


def cmd_extract_rules(args: argparse.Namespace) -> int:
    """Write spec.groups of a PrometheusRule as a plain Prometheus rule file."""
    docs = [d for d in load_yaml_docs(Path(args.source)) if d.get("kind") == "PrometheusRule"]
    if len(docs) != 1:
        print(f"{args.source}: expected exactly one PrometheusRule, found {len(docs)}")
        return 1
    Path(args.out).write_text(yaml.safe_dump({"groups": docs[0]["spec"]["groups"]}, sort_keys=False))
    print(f"extracted {len(docs[0]['spec']['groups'])} rule groups to {args.out}")
    return 0


def rule_list(doc: dict) -> list[dict]:
    return [r for g in doc.get("spec", {}).get("groups", []) for r in g.get("rules", [])]


# --------------------------------------------------------------------------- PromQL


def substitute_variables(expr: str) -> str:
    for var, value in GRAFANA_VARIABLES.items():
        expr = expr.replace(var, value)
    # Any remaining dashboard variable ($namespace, ${namespace}, [[x]]) is a label value.
    expr = re.sub(r"\$\{\w+(?::\w+)?\}|\$\w+|\[\[\w+\]\]", "placeholder", expr)
    return expr


def collect_exprs(path: Path) -> list[tuple[str, str]]:
    """(location, PromQL) pairs from a Grafana dashboard or a PrometheusRule file."""
    found: list[tuple[str, str]] = []
    if path.suffix == ".json":
        dash = json.loads(path.read_text())
        for panel in iter_panels(dash.get("panels", [])):
            ds_type = (panel.get("datasource") or {}).get("type")
            for target in panel.get("targets", []):
                t_type = (target.get("datasource") or {}).get("type", ds_type)
                if t_type != "prometheus" or "expr" not in target:
                    continue
                found.append((f"{path}: panel '{panel.get('title')}' {target.get('refId')}", target["expr"]))
        for var in dash.get("templating", {}).get("list", []):
            if var.get("type") != "query":
                continue
            query = var.get("query")
            query = query.get("query", "") if isinstance(query, dict) else (query or "")
            # Grafana's label_values(metric, label) is not PromQL: check its selector.
            m = re.fullmatch(r"\s*label_values\((.*),\s*\w+\s*\)\s*", query)
            found.append((f"{path}: variable '{var.get('name')}'", m.group(1) if m else query))
    else:
        for doc in load_yaml_docs(path):
            for rule in rule_list(doc):
                name = rule.get("alert") or rule.get("record")
                found.append((f"{path}: rule '{name}'", str(rule.get("expr", ""))))
    return found


def metric_names(expr) -> set[str]:
    import promql_parser

    names: set[str] = set()

    def visit(node) -> None:
        if isinstance(node, promql_parser.VectorSelector):
            if node.name:
                names.add(node.name)
            for matcher in node.matchers.matchers:
                if matcher.name == "__name__":
                    names.add(matcher.value)

    promql_parser.walk(expr, visit)
    return names


def cmd_promql(args: argparse.Namespace) -> int:
    import promql_parser

    catalog = read_names(Path(args.catalog))
    external = read_names(Path(args.external))
    known = set(external)
    for name in catalog:
        known.add(name)
        known.update(name + suffix for suffix in HISTOGRAM_SUFFIXES)
    problems = Problems()
    used: set[str] = set()
    count = 0
    for file in args.files:
        for where, raw in collect_exprs(Path(file)):
            count += 1
            try:
                expr = promql_parser.parse(substitute_variables(raw))
            except ValueError as err:
                problems.add(where, f"does not parse: {err}")
                continue
            for name in sorted(metric_names(expr)):
                used.add(name)
                if name not in known:
                    problems.add(where, f"unknown metric '{name}' (not in {args.catalog} or {args.external})")
    if args.all_external_used:
        for name in sorted(external - used):
            problems.add(args.external, f"'{name}' is listed but no dashboard or rule uses it")
    print(f"parsed {count} PromQL expressions, {len(used)} distinct metric names")
    return problems.finish("promql")


# --------------------------------------------------------------------------- dashboards


def iter_panels(panels: list[dict]):
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def cmd_dashboard(args: argparse.Namespace) -> int:
    problems = Problems()
    uids: dict[str, str] = {}
    for file in args.files:
        path = Path(file)
        try:
            dash = json.loads(path.read_text())
        except json.JSONDecodeError as err:
            problems.add(file, f"invalid JSON: {err}")
            continue
        uid = dash.get("uid")
        if not uid:
            problems.add(file, "dashboard has no uid")
        elif uid in uids:
            problems.add(file, f"uid '{uid}' also used by {uids[uid]}")
        else:
            uids[uid] = file
        if dash.get("id") not in (None,):
            problems.add(file, "dashboard 'id' must be null or absent: Grafana assigns it per instance")
        variables = {v.get("name"): v for v in dash.get("templating", {}).get("list", [])}
        ds_vars = {n for n, v in variables.items() if v.get("type") == "datasource"}
        if not any(v.get("query") == "prometheus" for n, v in variables.items() if n in ds_vars):
            problems.add(file, "no datasource variable of type prometheus")
        for required in args.require_variable:
            if required not in variables:
                problems.add(file, f"template variable '{required}' missing")
        for name, var in variables.items():
            if var.get("type") == "query" and not uses_ds_variable(var.get("datasource"), ds_vars):
                problems.add(file, f"variable '{name}' does not query through a datasource variable")
        ids: set[int] = set()
        panels = list(iter_panels(dash.get("panels", [])))
        for panel in panels:
            title = panel.get("title", "?")
            pid = panel.get("id")
            if pid in ids:
                problems.add(file, f"panel id {pid} ('{title}') is not unique")
            ids.add(pid)
            if panel.get("type") == "row":
                continue
            if not panel.get("targets"):
                problems.add(file, f"panel '{title}' has no query")
            if not uses_ds_variable(panel.get("datasource"), ds_vars):
                problems.add(file, f"panel '{title}' datasource {panel.get('datasource')!r} is not a datasource variable")
            for target in panel.get("targets", []):
                if "datasource" in target and not uses_ds_variable(target["datasource"], ds_vars):
                    problems.add(file, f"panel '{title}' target {target.get('refId')} has a fixed datasource")
            if not panel.get("description"):
                problems.add(file, f"panel '{title}' has no description (what it shows, what normal looks like)")
        for title in args.require_panel:
            if not any(p.get("title") == title for p in panels):
                problems.add(file, f"panel '{title}' missing")
        print(f"{file}: {len(panels)} panels, variables {sorted(variables)}")
    return problems.finish("dashboards")


def uses_ds_variable(ds, ds_vars: set[str]) -> bool:
    uid = ds.get("uid", "") if isinstance(ds, dict) else (ds or "")
    m = re.fullmatch(r"\$\{(\w+)\}|\$(\w+)", uid)
    return bool(m) and (m.group(1) or m.group(2)) in ds_vars


# --------------------------------------------------------------------------- Kubernetes objects


def cmd_k8s(args: argparse.Namespace) -> int:
    """prometheus-operator kinds against the operator's CRD models, core kinds
    against the Kubernetes OpenAPI schemas; unknown fields are errors in both."""
    import kubernetes_validate
    from cloudcoil.models.prometheus_operator import v1 as promv1

    crd_kinds = {"PrometheusRule", "ServiceMonitor", "PodMonitor", "Probe"}
    problems = Problems()
    for file in args.files:
        for i, doc in enumerate(load_yaml_docs(Path(file))):
            kind = doc.get("kind", "?")
            where = f"{file} #{i} {kind}/{doc.get('metadata', {}).get('name', '?')}"
            try:
                if kind in crd_kinds:
                    if doc.get("apiVersion") != "monitoring.coreos.com/v1":
                        raise ValueError(f"apiVersion {doc.get('apiVersion')} is not monitoring.coreos.com/v1")
                    getattr(promv1, kind).model_validate(doc, extra="forbid")
                else:
                    kubernetes_validate.validate(doc, args.kube_version, strict=True)
            except Exception as err:  # both libraries raise their own error types
                problems.add(where, " ".join(str(err).split())[:400])
            else:
                print(f"  valid {where}")
    return problems.finish("kubernetes objects")


# --------------------------------------------------------------------------- runbooks


def github_anchor(heading: str) -> str:
    anchor = heading.strip().lower()
    anchor = re.sub(r"[^\w\- ]", "", anchor)
    return anchor.replace(" ", "-")


def cmd_alerts(args: argparse.Namespace) -> int:
    """Every alert: severity, for, summary, and a runbook_url whose anchor exists."""
    headings = [m.group(1) for m in re.finditer(r"^#{1,6}\s+(.+?)\s*#*\s*$", Path(args.runbooks).read_text(), re.M)]
    anchors = {github_anchor(h) for h in headings}
    problems = Problems()
    alerts = 0
    seen: set[str] = set()
    for doc in load_yaml_docs(Path(args.rules)):
        for rule in rule_list(doc):
            name = rule.get("alert")
            if not name:
                continue
            alerts += 1
            where = f"{args.rules}: {name}"
            if name in seen:
                problems.add(where, "alert name used twice")
            seen.add(name)
            if rule.get("labels", {}).get("severity") not in args.severity:
                problems.add(where, f"severity must be one of {args.severity}")
            if "for" not in rule:
                problems.add(where, "no 'for:' duration")
            annotations = rule.get("annotations", {})
            for key in ("summary", "description"):
                if not annotations.get(key):
                    problems.add(where, f"annotation '{key}' missing")
            url = annotations.get("runbook_url", "")
            if not url.startswith(args.url_prefix + "#"):
                problems.add(where, f"runbook_url '{url}' does not start with {args.url_prefix}#")
                continue
            anchor = url.split("#", 1)[1]
            if anchor not in anchors:
                problems.add(where, f"anchor '#{anchor}' not found in {args.runbooks}")
    for name in args.require_alert:
        if name not in seen:
            problems.add(args.rules, f"required alert {name} missing")
    print(f"{alerts} alerts, {len(anchors)} headings in {args.runbooks}")
    return problems.finish("alerts and runbooks")


# --------------------------------------------------------------------------- values files


def cmd_schema(args: argparse.Namespace) -> int:
    import jsonschema

    schema = json.loads(Path(args.schema).read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    problems = Problems()
    for file in args.files:
        for doc in load_yaml_docs(Path(file)):
            for err in sorted(validator.iter_errors(doc), key=lambda e: list(e.path)):
                path = "/".join(str(p) for p in err.path) or "(root)"
                problems.add(file, f"{path}: {err.message}")
        print(f"  {file} against {args.schema}")
    return problems.finish("values schema")


def cmd_log_labels(args: argparse.Namespace) -> int:
    """Labels the Alloy pipeline attaches must stay low-cardinality.

    Alloy's configuration language is not YAML, so this reads the blocks that
    create labels (stage.labels, stage.static_labels and relabel target_label)
    from the text of alloy.configMap.content.
    """
    problems = Problems()
    allowed = set(args.allowed)
    for file in args.files:
        values = load_yaml_docs(Path(file))[0]
        content = values.get("alloy", {}).get("configMap", {}).get("content", "")
        if not content.strip():
            problems.add(file, "alloy.configMap.content is empty")
            continue
        labels: set[str] = set()
        for block in re.finditer(r"stage\.(?:labels|static_labels)\s*\{\s*values\s*=\s*\{(.*?)\}", content, re.S):
            labels.update(re.findall(r"^\s*(\w+)\s*=", block.group(1), re.M))
        labels.update(re.findall(r'target_label\s*=\s*"(\w+)"', content))
        # Alloy's own helper labels (__*__) never reach Loki.
        labels = {label for label in labels if not label.startswith("__")}
        for label in sorted(labels - allowed):
            problems.add(file, f"label '{label}' is not one of the low-cardinality labels {sorted(allowed)}")
        json_block = re.search(r"stage\.json\s*\{\s*expressions\s*=\s*\{(.*?)\}", content, re.S)
        extracted = set(re.findall(r"^\s*(\w+)\s*=", json_block.group(1), re.M)) if json_block else set()
        for field in sorted(set(args.json_field) - extracted):
            problems.add(file, f"JSON field '{field}' is not extracted by stage.json")
        meta_block = re.search(r"stage\.structured_metadata\s*\{\s*values\s*=\s*\{(.*?)\}", content, re.S)
        metadata = set(re.findall(r"^\s*(\w+)\s*=", meta_block.group(1), re.M)) if meta_block else set()
        for field in sorted(set(args.metadata) - metadata):
            problems.add(file, f"field '{field}' must be kept as structured metadata")
        if "{{" in content:
            problems.add(file, "the chart passes the config through tpl: '{{' would be read as a Go template")
        if json_block and args.samples:
            check_extraction(file, json_block.group(1), Path(args.samples), problems)
        print(f"  {file}: labels {sorted(labels)}")
    return problems.finish("log labels")


def check_extraction(file: str, block: str, samples_path: Path, problems: Problems) -> None:
    """Runs the stage.json JMESPath expressions on log lines shaped exactly as the
    binaries write them (fields of the request/task spans inside `spans`), so a
    pipeline that reads only top-level fields is caught here, not in Grafana."""
    import jmespath  # only this sub-command needs it

    expressions = {
        name: bytes(expr, "utf-8").decode("unicode_escape")
        for name, expr in re.findall(r'^\s*(\w+)\s*=\s*"((?:[^"\\]|\\.)*)"', block, re.M)
    }
    samples = yaml.safe_load(samples_path.read_text())
    for i, sample in enumerate(samples):
        line = json.loads(sample["line"])
        for field, want in (sample.get("expect") or {}).items():
            if field not in expressions:
                problems.add(file, f"sample {i} ({sample['what']}): no stage.json expression for '{field}'")
                continue
            try:
                got = jmespath.search(expressions[field], line)
            except jmespath.exceptions.JMESPathError as e:
                problems.add(file, f"stage.json expression for '{field}' does not parse: {e}")
                continue
            if want is None and got in (None, ""):
                continue
            if got is None or str(got) != str(want):
                problems.add(file, f"sample {i} ({sample['what']}): '{field}' extracted as {got!r}, want {want!r}")
    print(f"  {file}: stage.json extracts the expected fields from {len(samples)} sample lines")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    sub = parser.add_subparsers(dest="cmd", required=True)

    p = sub.add_parser("extract-rules")
    p.add_argument("source")
    p.add_argument("out")
    p.set_defaults(func=cmd_extract_rules)

    p = sub.add_parser("promql")
    p.add_argument("--catalog", required=True)
    p.add_argument("--external", required=True)
    p.add_argument("--all-external-used", action="store_true")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_promql)

    p = sub.add_parser("dashboard")
    p.add_argument("--require-variable", action="append", default=[])
    p.add_argument("--require-panel", action="append", default=[])
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_dashboard)

    p = sub.add_parser("k8s")
    p.add_argument("--kube-version", default="1.31.0")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_k8s)

    p = sub.add_parser("alerts")
    p.add_argument("--rules", required=True)
    p.add_argument("--runbooks", required=True)
    p.add_argument("--url-prefix", required=True)
    p.add_argument("--severity", action="append", default=[])
    p.add_argument("--require-alert", action="append", default=[])
    p.set_defaults(func=cmd_alerts)

    p = sub.add_parser("schema")
    p.add_argument("--schema", required=True)
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_schema)

    p = sub.add_parser("log-labels")
    p.add_argument("--allowed", action="append", default=[])
    p.add_argument("--json-field", action="append", default=[])
    p.add_argument("--metadata", action="append", default=[])
    p.add_argument("--samples", help="YAML list of {what, line, expect} log lines to extract from")
    p.add_argument("files", nargs="+")
    p.set_defaults(func=cmd_log_labels)

    args = parser.parse_args()
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
