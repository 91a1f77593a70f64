"""Every address a component is told to reach is a rendered Service port that
selects pods listening there.

Addresses: the NATS URL and the Sentinels of the tasklane ConfigMaps, the Valkey URLs the
operator doc or the ExternalSecrets give, KEDA's NATS monitoring endpoint,
redis_exporter's REDIS_ADDR (a Service, or its own pod for a sidecar), the helm test pods' gateway URL, the Ingress
backends. KEDA on a NATS cluster asks each server at <server name>.<host>, so
its host must be the StatefulSet's headless Service.
"""

from __future__ import annotations

from . import natsconf as nc
from .model import NAMESPACE, Problems, Stack, service_pods
from .tls import valkey_urls


def resolve(stack: Stack, host: str):
    parts = host.split(".")
    namespace = parts[1] if len(parts) > 1 and parts[1] != "svc" else NAMESPACE
    return stack.named("Service", parts[0], namespace)


def check_address(stack: Stack, problems: Problems, where: str, host: str, port: int | str | None):
    svc = resolve(stack, host)
    if svc is None:
        problems.add(f"{where}: no Service {host} in the rendered stack")
        return None
    ports = svc.spec.get("ports") or []
    chosen = next((p for p in ports if port in (p.get("port"), p.get("name"))), None)
    if chosen is None:
        problems.add(f"{where}: Service {svc.name} has no port {port} (ports {[p.get('port') for p in ports]})")
        return svc
    pods = service_pods(stack, svc)
    if not pods:
        problems.add(f"{where}: Service {svc.name} selects no rendered pod")
    target = str(chosen.get("targetPort", chosen["port"]))
    for pod in pods:
        if target not in pod.ports():
            problems.add(f"{where}: {pod} behind Service {svc.name} does not listen on {target}")
    return svc


def check(stack: Stack, operator_docs: list[str]) -> int:
    problems = Problems()
    count = 0

    def address(where, url, default_port=None):
        nonlocal count
        count += 1
        _, host, port = nc.host_of(url)
        return check_address(stack, problems, where, host, port or default_port)

    for cm in stack.of("ConfigMap"):
        url = (cm.doc.get("data") or {}).get("TASKLANE_NATS__URL")
        if url:
            address(f"ConfigMap/{cm.name} TASKLANE_NATS__URL", url, 4222)
        for entry in ((cm.doc.get("data") or {}).get("TASKLANE_VALKEY__SENTINELS") or "").split(","):
            if entry.strip():
                count += 1
                host, _, port = entry.strip().rpartition(":")
                check_address(stack, problems, f"ConfigMap/{cm.name} TASKLANE_VALKEY__SENTINELS", host, int(port))
    for where, url in valkey_urls(stack, operator_docs):
        address(f"{where} valkey-url", url, 6379)
    conf = nc.server_config(stack) or {}
    server = nc.server_pod(stack)
    for so in stack.of("ScaledObject"):
        for trig in so.spec.get("triggers") or []:
            if trig.get("type") != "nats-jetstream":
                continue
            svc = address(f"{so} natsServerMonitoringEndpoint", trig["metadata"]["natsServerMonitoringEndpoint"])
            clustered = bool((conf.get("cluster") or {}).get("routes"))
            if svc is not None and clustered and server is not None:
                if svc.spec.get("clusterIP") != "None" or server.owner.spec.get("serviceName") != svc.name:
                    problems.add(f"{so}: on a NATS cluster KEDA asks <server>.{svc.name} for the consumer "
                                 f"leader's /jsz; use the StatefulSet's headless Service "
                                 f"{server.owner.spec.get('serviceName')}")
    for pod in stack.pods():
        for c in pod.containers():
            for env in c.get("env") or []:
                if env.get("name") in ("REDIS_ADDR", "GATEWAY") and env.get("value"):
                    where = f"{pod} env {env['name']}"
                    _, host, port = nc.host_of(env["value"])
                    if host in ("localhost", "127.0.0.1"):
                        # A sidecar reading its own pod (the Sentinels' exporters).
                        count += 1
                        if str(port) not in pod.ports():
                            problems.add(f"{where}: no container of {pod} listens on {port}")
                        continue
                    address(where, env["value"], 6379 if env["name"] == "REDIS_ADDR" else None)
    for ing in stack.of("Ingress"):
        for rule in ing.spec.get("rules") or []:
            for path in (rule.get("http") or {}).get("paths") or []:
                svc = path["backend"]["service"]
                port = svc["port"].get("number") or svc["port"].get("name")
                count += 1
                check_address(stack, problems, f"{ing} path {path['path']}", svc["name"], port)
    return problems.finish("endpoints", f"{count} addresses resolve to Services and listening pods")
