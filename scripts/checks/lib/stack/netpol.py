"""The rendered NetworkPolicies allow each flow of flows.yaml and nothing else.

Every pair of (source, destination port) among the namespace's pods and the
outside peers of flows.yaml is evaluated the way the API defines it: a flow
passes when the source's egress and the destination's ingress both allow it
(a side no policy selects allows everything; outside pods are not modelled).
"""

from __future__ import annotations

from pathlib import Path

import yaml

from .model import NAMESPACE, Problems, Stack, matches, skipped_hook


class Peer:
    def __init__(self, name, namespace, labels, ports, ip=False, pod=None):
        self.name, self.namespace, self.labels, self.ip, self.pod = name, namespace, labels, ip, pod
        self.ports = ports  # {name or number text: (number, protocol)}


def parse_port(text) -> tuple[int, str]:
    number, _, proto = str(text).partition("/")
    return int(number), proto or "TCP"


def peers_of(stack: Stack, spec: dict, problems: Problems) -> list[Peer]:
    peers = []
    for pod in stack.pods():
        if pod.namespace != NAMESPACE or skipped_hook(pod):
            continue
        names = [n for n, sel in spec["pods"].items() if matches(sel, pod.labels)]
        if len(names) != 1:
            problems.add(f"{pod}: labels {pod.labels} match {names or 'no'} pod of flows.yaml; "
                         f"name it there with the flows it needs")
            continue
        peers.append(Peer(names[0], NAMESPACE, pod.labels, pod.ports(), pod=pod))
    for name, p in spec["peers"].items():
        ports = {}
        for text in p.get("ports") or []:
            ports[text] = parse_port(text)
        peers.append(Peer(name, p.get("namespace"), p.get("labels") or {}, ports, ip=p.get("ip", False)))
    return peers


def peer_matches(rule_peer: dict, policy_ns: str, target: Peer) -> bool:
    if "ipBlock" in rule_peer:
        return target.ip
    if target.ip:
        return False
    ns_sel, pod_sel = rule_peer.get("namespaceSelector"), rule_peer.get("podSelector")
    if ns_sel is not None:
        ns_ok = matches(ns_sel, {"kubernetes.io/metadata.name": target.namespace})
    else:
        ns_ok = target.namespace == policy_ns
    return ns_ok and (pod_sel is None or matches(pod_sel, target.labels))


def port_matches(rule_ports, dst: Peer, number: int, proto: str) -> bool:
    if not rule_ports:
        return True
    for rp in rule_ports:
        if rp.get("protocol", "TCP") != proto:
            continue
        port = rp.get("port")
        if port is None:
            return True
        if isinstance(port, str) and not port.isdigit():
            if dst.ports.get(port, (None, None))[0] == number:
                return True
        elif int(port) <= number <= int(rp.get("endPort", port)):
            return True
    return False


def side_allows(stack: Stack, subject: Peer, other: Peer, direction: str, dst: Peer, number: int, proto: str):
    if subject.namespace != NAMESPACE or subject.ip or subject.pod is None:
        return True
    selecting = [np for np in stack.of("NetworkPolicy") if np.namespace == NAMESPACE
                 and matches(np.spec.get("podSelector") or {}, subject.labels)
                 and direction in (np.spec.get("policyTypes") or ["Ingress"])]
    if not selecting:
        return True
    key, field = ("ingress", "from") if direction == "Ingress" else ("egress", "to")
    for np in selecting:
        for rule in np.spec.get(key) or []:
            peers = rule.get(field)
            if (peers is None or any(peer_matches(p, np.namespace, other) for p in peers)) and \
                    port_matches(rule.get("ports"), dst, number, proto):
                return True
    return False


def allowed(stack, src: Peer, dst: Peer, number: int, proto: str) -> bool:
    return side_allows(stack, src, dst, "Egress", dst, number, proto) and \
        side_allows(stack, dst, src, "Ingress", dst, number, proto)


def check(stack: Stack, flows_path: str) -> int:
    problems = Problems()
    spec = yaml.safe_load(Path(flows_path).read_text())
    peers = peers_of(stack, spec, problems)
    by_name = {}
    for p in peers:
        by_name.setdefault(p.name, []).append(p)
    wanted = set()
    for src, dst, port in spec["flows"]:
        number, proto = parse_port(port)
        for s in (peers if src == "*" else by_name.get(src, [])):
            if s.ip or s.name.startswith("anyone") or (src == "*" and s.namespace != NAMESPACE):
                continue
            wanted.add((s.name, dst, number, proto))
            if any(not allowed(stack, s, d, number, proto) for d in by_name.get(dst, [])) and \
                    (s.name, dst, number, proto, "denied") not in wanted:
                wanted.add((s.name, dst, number, proto, "denied"))
                problems.add(f"needed flow {s.name} -> {dst}:{number}/{proto} is denied")
    checked, reported = 0, set()
    for s in peers:
        for d in peers:
            outside = d.ip or d.namespace != NAMESPACE
            # Outside peers are reached through the sources' egress only.
            if outside and (d.name != "kube-dns" and not d.ip or s.namespace != NAMESPACE or s.pod is None):
                continue
            for number, proto in set(d.ports.values()):
                checked += 1
                flow = (s.name, d.name, number, proto)
                if flow not in wanted and flow not in reported and allowed(stack, s, d, number, proto):
                    reported.add(flow)
                    problems.add(f"{s.name} -> {d.name}:{number}/{proto} is allowed but no flow needs it")
    missing = {n for f in spec["flows"] for n in f[:2] if n != "*" and n not in by_name}
    for name in sorted(missing):
        problems.add(f"flows.yaml names {name}, which is rendered nowhere")
    return problems.finish("network policies", f"{len(spec['flows'])} needed flows, {checked} pod-port pairs")
