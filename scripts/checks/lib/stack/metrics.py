"""Every metric a dashboard, an alert, the worker's HPA or the metrics adapter
names is produced: by the tasklane binaries (infra/monitoring/metric-names.txt,
held to the binaries by a Rust test), by an exporter the stack renders and
scrapes (with the name prefix its arguments give), or by the platform
(kube-prometheus-stack's kube-state-metrics, cAdvisor, Prometheus' own `up`).
A `job="..."` a query filters on is the job of a rendered monitor, and no pod
port is scraped by two monitors.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import yaml

from .model import Problems, Stack
from .scrapes import targets

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from monitoring import HISTOGRAM_SUFFIXES, collect_exprs, read_names, substitute_variables  # noqa: E402

# prometheus-nats-exporter: the flag that enables each family of names.
NATS_FAMILIES = {"varz": "-varz", "connz": "-connz", "routez": "-routez", "subz": "-subz",
                 "stream": "-jsz", "consumer": "-jsz", "account": "-jsz", "server": "-jsz",
                 "jetstream": "-jsz", "healthz": "-healthz", "leafz": "-leafz", "gatewayz": "-gatewayz"}


def exporter_prefixes(stack: Stack) -> dict[str, str]:
    """name prefix -> what produces it, for every scraped exporter container."""
    scraped = {(id(t.pod), t.port) for t in targets(stack)}
    found = {}
    for pod in stack.pods():
        for c in pod.spec.get("containers") or []:
            image, args = c.get("image", ""), [str(a) for a in c.get("args") or []]
            ports = {str(p["containerPort"]) for p in c.get("ports") or []}
            if not any((id(pod), p) in scraped for p in ports):
                continue
            if "prometheus-nats-exporter" in image:
                prefix = next((a.split("=", 1)[1] for a in args if a.startswith("-prefix=")), "gnatsd")
                for family, flag in NATS_FAMILIES.items():
                    if any(a == flag or a.startswith(flag + "=") for a in args):
                        found[f"{prefix}_{family}_"] = f"{pod} {c['name']} ({flag}, -prefix={prefix})"
            if "redis_exporter" in image:
                env = {e["name"]: e.get("value") for e in c.get("env") or []}
                ns = env.get("REDIS_EXPORTER_NAMESPACE") or next(
                    (a.split("=", 1)[1] for a in args if a.startswith("--namespace=")), "redis")
                found[f"{ns}_"] = f"{pod} {c['name']}"
    return found


def platform_prefixes(kps_values: str) -> dict[str, str]:
    values = yaml.safe_load(Path(kps_values).read_text()) or {}
    found = {"up": "Prometheus itself"}
    if (values.get("kubeStateMetrics") or {}).get("enabled", True):
        found["kube_"] = "kube-state-metrics (kube-prometheus-stack)"
    if ((values.get("kubelet") or {}).get("serviceMonitor") or {}).get("cAdvisor"):
        found["container_"] = "cAdvisor (kube-prometheus-stack kubelet monitor)"
    return found


def selectors(expr: str):
    import promql_parser

    found = []

    def visit(node):
        if isinstance(node, promql_parser.VectorSelector):
            found.append(node)

    promql_parser.walk(promql_parser.parse(substitute_variables(expr)), visit)
    return found


def check(stack: Stack, binaries: str, kps_values: str, adapter: str, queries: list[str]) -> int:
    problems = Problems()
    own = read_names(Path(binaries))
    producers = {**platform_prefixes(kps_values), **exporter_prefixes(stack)}
    scrape = targets(stack)
    jobs = {t.job for t in scrape}

    def produced(name: str) -> bool:
        base = next((name[: -len(s)] for s in HISTOGRAM_SUFFIXES if name.endswith(s) and name[: -len(s)] in own), name)
        return base in own or name == "up" or any(name.startswith(p) for p in producers if p.endswith("_"))

    uses = []
    for path in queries:
        for where, expr in collect_exprs(Path(path)):
            for sel in selectors(expr):
                uses.append((where, sel.name or "", {m.name: m.value for m in sel.matchers.matchers
                                                     if str(m.op).endswith("Equal") and "Not" not in str(m.op)}))
    rules = (yaml.safe_load(Path(adapter).read_text()).get("rules") or {}).get("external") or []
    served = {}
    for rule in rules:
        series = re.match(r"\s*([a-zA-Z_:][a-zA-Z0-9_:]*)", rule["seriesQuery"]).group(1)
        served[(rule.get("name") or {}).get("as", series)] = series
        uses.append((f"{adapter}: rule for {series}", series, {}))
    for hpa in stack.of("HorizontalPodAutoscaler"):
        for m in hpa.spec.get("metrics") or []:
            if m.get("type") == "External":
                name = m["external"]["metric"]["name"]
                if name not in served:
                    problems.add(f"{hpa}: external metric {name} is not served by any rule of {adapter} "
                                 f"(serves {sorted(served)})")
                else:
                    uses.append((f"{hpa} via {adapter}", served[name], {}))
    for where, name, labels in uses:
        if name and not produced(name):
            problems.add(f"{where}: {name} is produced by neither the binaries ({binaries}) nor a rendered, "
                         f"scraped exporter (prefixes {sorted(p for p in producers if p.endswith('_'))})")
        if "job" in labels and labels["job"] not in jobs:
            problems.add(f"{where}: job=\"{labels['job']}\" is the job of no rendered monitor (jobs {sorted(jobs)})")
    seen = {}
    for t in scrape:
        key = (id(t.pod), t.port)
        if key in seen and seen[key].monitor is not t.monitor:
            problems.add(f"{t.pod} port {t.port} is scraped twice: by {seen[key].monitor} and {t.monitor}")
        seen[key] = t
    return problems.finish("metrics", f"{len(uses)} metric uses, {len(scrape)} scrape targets, "
                                      f"producers {sorted(producers)}")
