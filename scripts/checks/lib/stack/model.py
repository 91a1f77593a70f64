"""Rendered manifests as one set of objects, and the pods they would run."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import yaml

NAMESPACE = "tasklane"
WORKLOADS = {"Deployment", "StatefulSet", "DaemonSet", "Job"}


class Problems:
    """Every problem of one check, printed together so one run lists them all."""

    def __init__(self) -> None:
        self.items: list[str] = []

    def add(self, msg: str) -> None:
        self.items.append(msg)

    def finish(self, what: str, checked: str) -> int:
        for item in self.items:
            print(f"  FAIL {item}")
        if self.items:
            print(f"{what}: {len(self.items)} problem(s)")
            return 1
        print(f"{what}: ok ({checked})")
        return 0


@dataclasses.dataclass
class Obj:
    source: str
    doc: dict

    @property
    def kind(self) -> str:
        return self.doc.get("kind", "")

    @property
    def name(self) -> str:
        return self.doc.get("metadata", {}).get("name", "")

    @property
    def namespace(self) -> str:
        # `helm template -n` leaves namespace out of some charts' objects;
        # everything here is installed into the tasklane namespace.
        return self.doc.get("metadata", {}).get("namespace") or NAMESPACE

    @property
    def annotations(self) -> dict:
        return self.doc.get("metadata", {}).get("annotations") or {}

    @property
    def spec(self) -> dict:
        return self.doc.get("spec") or {}

    def __str__(self) -> str:
        return f"{self.kind}/{self.name} ({Path(self.source).name})"


@dataclasses.dataclass
class Pod:
    """A pod a workload (or a bare Pod) would create."""

    owner: Obj
    labels: dict
    spec: dict

    @property
    def namespace(self) -> str:
        return self.owner.namespace

    @property
    def is_test_hook(self) -> bool:
        return self.owner.annotations.get("helm.sh/hook") == "test"

    def containers(self) -> list[dict]:
        return (self.spec.get("initContainers") or []) + (self.spec.get("containers") or [])

    def ports(self) -> dict[str, tuple[int, str]]:
        """Container ports by name (and by number as text): (port, protocol)."""
        found = {}
        for c in self.spec.get("containers") or []:
            for p in c.get("ports") or []:
                entry = (int(p["containerPort"]), p.get("protocol", "TCP"))
                found[str(p["containerPort"])] = entry
                if p.get("name"):
                    found[p["name"]] = entry
        return found

    def __str__(self) -> str:
        name = self.labels.get("statefulset.kubernetes.io/pod-name")
        return f"{self.owner} pod {name}" if name else str(self.owner)


class Stack:
    def __init__(self, paths: list[str]) -> None:
        self.objects: list[Obj] = []
        self._pods: list[Pod] | None = None
        for path in paths:
            for doc in yaml.safe_load_all(Path(path).read_text()):
                if isinstance(doc, dict) and doc.get("kind"):
                    if doc["kind"].endswith("List"):
                        self.objects += [Obj(path, d) for d in doc.get("items") or []]
                    else:
                        self.objects.append(Obj(path, doc))

    def of(self, *kinds: str) -> list[Obj]:
        return [o for o in self.objects if o.kind in kinds]

    def named(self, kind: str, name: str, namespace: str = NAMESPACE) -> Obj | None:
        return next((o for o in self.of(kind) if o.name == name and o.namespace == namespace), None)

    def pods(self) -> list[Pod]:
        if self._pods is not None:
            return self._pods
        found = []
        for o in self.objects:
            if o.kind == "Pod":
                found.append(Pod(o, o.doc.get("metadata", {}).get("labels") or {}, o.spec))
            elif o.kind == "StatefulSet":
                # The controller labels each pod with its name and ordinal, and
                # Services may select one of them (Valkey's primary is valkey-0).
                tmpl = o.spec.get("template") or {}
                for i in range(int(o.spec.get("replicas", 1))):
                    labels = {**((tmpl.get("metadata") or {}).get("labels") or {}),
                              "statefulset.kubernetes.io/pod-name": f"{o.name}-{i}",
                              "apps.kubernetes.io/pod-index": str(i)}
                    found.append(Pod(o, labels, tmpl.get("spec") or {}))
            elif o.kind in WORKLOADS:
                tmpl = o.spec.get("template") or {}
                found.append(Pod(o, (tmpl.get("metadata") or {}).get("labels") or {}, tmpl.get("spec") or {}))
        self._pods = found
        return found

    def pods_selected(self, selector: dict, namespace: str = NAMESPACE) -> list[Pod]:
        return [p for p in self.pods() if p.namespace == namespace and matches(selector, p.labels)]


def matches(selector: dict | None, labels: dict) -> bool:
    """A LabelSelector (matchLabels and matchExpressions) or a plain label map."""
    if selector is None:
        return False
    plain = {k: v for k, v in selector.items() if k not in ("matchLabels", "matchExpressions")}
    wanted = {**plain, **(selector.get("matchLabels") or {})}
    if any(labels.get(k) != v for k, v in wanted.items()):
        return False
    for expr in selector.get("matchExpressions") or []:
        key, op, values = expr["key"], expr["operator"], expr.get("values") or []
        if op == "In" and labels.get(key) not in values:
            return False
        if op == "NotIn" and labels.get(key) in values:
            return False
        if op == "Exists" and key not in labels:
            return False
        if op == "DoesNotExist" and key in labels:
            return False
    return True


def service_pods(stack: Stack, svc: Obj) -> list[Pod]:
    selector = svc.spec.get("selector")
    return stack.pods_selected(selector, svc.namespace) if selector else []


def skipped_hook(pod: Pod) -> bool:
    """An upstream chart's `helm test` pod: never run here (docs/how-to-run.md)."""
    return pod.is_test_hook and pod.labels.get("app.kubernetes.io/part-of") != "tasklane"
