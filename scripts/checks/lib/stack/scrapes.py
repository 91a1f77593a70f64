"""What the Prometheus Operator would scrape from the rendered stack: each
monitor endpoint, the pod port behind it and the job label it gets."""

from __future__ import annotations

import dataclasses

from .model import Obj, Pod, Stack, matches, service_pods


@dataclasses.dataclass
class Target:
    monitor: Obj
    pod: Pod
    port: str
    job: str


def relabelled_job(endpoint: dict, default: str) -> str:
    for r in endpoint.get("relabelings") or []:
        if r.get("targetLabel") == "job" and "replacement" in r and not r.get("sourceLabels"):
            return r["replacement"]
    return default


def targets(stack: Stack) -> list[Target]:
    found = []
    for mon in stack.of("PodMonitor"):
        for ep in mon.spec.get("podMetricsEndpoints") or []:
            for pod in stack.pods_selected(mon.spec.get("selector") or {}, mon.namespace):
                if pod.is_test_hook:
                    continue
                if ep.get("port") in pod.ports():
                    found.append(Target(mon, pod, str(pod.ports()[ep["port"]][0]),
                                        relabelled_job(ep, f"{mon.namespace}/{mon.name}")))
    for mon in stack.of("ServiceMonitor"):
        namespaces = (mon.spec.get("namespaceSelector") or {}).get("matchNames") or [mon.namespace]
        for svc in stack.of("Service"):
            labels = svc.doc.get("metadata", {}).get("labels") or {}
            if svc.namespace not in namespaces or not matches(mon.spec.get("selector") or {}, labels):
                continue
            job = labels.get(mon.spec["jobLabel"], svc.name) if mon.spec.get("jobLabel") else svc.name
            for ep in mon.spec.get("endpoints") or []:
                sp = next((p for p in svc.spec.get("ports") or [] if ep.get("port") in (p.get("name"), p.get("port"))), None)
                if sp is None:
                    continue
                target = str(sp.get("targetPort", sp["port"]))
                for pod in service_pods(stack, svc):
                    if target in pod.ports():
                        found.append(Target(mon, pod, str(pod.ports()[target][0]), relabelled_job(ep, job)))
    return found
