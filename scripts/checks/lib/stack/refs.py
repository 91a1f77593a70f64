"""Every Secret, ConfigMap and ServiceAccount a pod (or a cert-manager Issuer)
uses exists in the rendered stack, with the keys it reads, or is listed in
docs/how-to-run.md as created by the operator, with those keys."""

from __future__ import annotations

import re
from pathlib import Path

from .model import NAMESPACE, Problems, Stack

# The table in docs/how-to-run.md that follows this marker lists what the
# operator creates by hand: | kind | `name` | `key`, `key` | read by |
MARKER = "<!-- stack-check: operator-created -->"
CERT_KEYS = {"tls.crt", "tls.key", "ca.crt"}


def operator_created(doc_path: str) -> dict[tuple[str, str], set[str]]:
    text = Path(doc_path).read_text()
    if MARKER not in text:
        raise SystemExit(f"{doc_path}: no '{MARKER}' table of operator-created objects")
    found = {}
    for line in text.split(MARKER, 1)[1].lstrip().splitlines():
        if not line.startswith("|"):
            break
        cells = [c.strip() for c in line.strip("|").split("|")]
        names = re.findall(r"`([^`]+)`", cells[1]) if len(cells) > 2 else []
        if cells[0] in ("Secret", "ConfigMap") and names:
            found[(cells[0], names[0])] = set(re.findall(r"`([^`]+)`", cells[2]))
    return found


def produced(stack: Stack) -> dict[tuple[str, str], set[str] | None]:
    """(kind, name) -> keys it will hold (None: any key) for what the stack creates."""
    made: dict[tuple[str, str], set[str] | None] = {}
    for o in stack.of("Secret", "ConfigMap"):
        made[(o.kind, o.name)] = set(o.doc.get("data") or {}) | set(o.doc.get("stringData") or {})
    for o in stack.of("ServiceAccount"):
        made[("ServiceAccount", o.name)] = None
    made[("ServiceAccount", "default")] = None
    for o in stack.of("Certificate"):
        made[("Secret", o.spec["secretName"])] = set(CERT_KEYS)
    for o in stack.of("ExternalSecret"):
        target = o.spec.get("target") or {}
        tmpl = (target.get("template") or {}).get("data")
        keys = set(tmpl) if tmpl else {d["secretKey"] for d in o.spec.get("data") or []}
        made[("Secret", target.get("name") or o.name)] = keys
    for o in stack.of("Ingress"):
        if any(k.startswith("cert-manager.io/") for k in o.annotations):
            for tls in o.spec.get("tls") or []:
                made[("Secret", tls["secretName"])] = {"tls.crt", "tls.key"}
    return made


def references(stack: Stack):
    """(where, kind, name, keys read or None, optional)."""
    for pod in stack.pods():
        spec = pod.spec
        if pod.namespace != NAMESPACE:
            continue
        yield str(pod), "ServiceAccount", spec.get("serviceAccountName") or "default", None, False
        for s in spec.get("imagePullSecrets") or []:
            yield str(pod), "Secret", s["name"], None, False
        for vol in spec.get("volumes") or []:
            for kind, field, ref in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
                if field in vol:
                    v = vol[field]
                    keys = {i["key"] for i in v.get("items") or []} or None
                    yield f"{pod} volume {vol['name']}", kind, v[ref], keys, bool(v.get("optional"))
        for c in pod.containers():
            where = f"{pod} container {c['name']}"
            for env in c.get("env") or []:
                src = env.get("valueFrom") or {}
                for kind, field in (("Secret", "secretKeyRef"), ("ConfigMap", "configMapKeyRef")):
                    if field in src:
                        ref = src[field]
                        yield f"{where} env {env['name']}", kind, ref["name"], {ref["key"]}, bool(ref.get("optional"))
            for ef in c.get("envFrom") or []:
                for kind, field in (("Secret", "secretRef"), ("ConfigMap", "configMapRef")):
                    if field in ef:
                        yield f"{where} envFrom", kind, ef[field]["name"], None, bool(ef[field].get("optional"))
    for o in stack.of("Issuer"):
        if "ca" in o.spec:
            yield str(o), "Secret", o.spec["ca"]["secretName"], {"tls.crt", "tls.key"}, False


def check(stack: Stack, operator_docs: list[str]) -> int:
    operator_doc = operator_docs[0] if operator_docs else None
    problems = Problems()
    made = produced(stack)
    by_hand = operator_created(operator_doc) if operator_doc else {}
    count = 0
    for where, kind, name, keys, optional in references(stack):
        count += 1
        if optional:
            problems.add(f"{where}: {kind} {name} is optional, so a missing one goes unnoticed")
        if (kind, name) in made:
            have, origin = made[(kind, name)], "the rendered stack"
        elif (kind, name) in by_hand:
            have, origin = by_hand[(kind, name)], operator_doc
        else:
            listed = f"{operator_doc} does not list it" if operator_doc else "no operator doc lists it"
            problems.add(f"{where}: {kind} {name} is not rendered, and {listed} as created by the operator")
            continue
        missing = sorted((keys or set()) - have) if have is not None else []
        if missing:
            problems.add(f"{where}: {kind} {name} has no key(s) {missing} ({origin} gives {sorted(have)})")
    return problems.finish("references", f"{count} references to Secrets, ConfigMaps, ServiceAccounts")
