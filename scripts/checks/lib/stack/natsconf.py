"""What the rendered NATS servers and their clients are configured with."""

from __future__ import annotations

import json
import posixpath
import re

from .model import Obj, Pod, Stack


def server_config(stack: Stack) -> dict | None:
    """nats.conf of the NATS chart's ConfigMap: JSON with bare $VARIABLES and sizes."""
    cm = next((o for o in stack.of("ConfigMap") if "nats.conf" in (o.doc.get("data") or {})), None)
    if cm is None:
        return None
    text = cm.doc["data"]["nats.conf"]
    text = re.sub(r'(:\s*)(\$[A-Za-z_][A-Za-z0-9_]*)', r'\1"\2"', text)
    text = re.sub(r'(:\s*)([0-9]+[A-Za-z]+)(\s*[,\n}])', r'\1"\2"\3', text)
    return json.loads(text)


def server_pod(stack: Stack) -> Pod | None:
    return next((p for p in stack.pods() if any(
        "--config" in (c.get("args") or []) and c["name"] == "nats" for c in p.spec.get("containers") or [])), None)


def mounted_secret(pod: Pod, path: str, container: str | None = None) -> tuple[str | None, str]:
    """(Secret name, key) that a file path in the pod comes from."""
    volumes = {v["name"]: v for v in pod.spec.get("volumes") or []}
    directory, key = posixpath.split(path)
    for c in pod.spec.get("containers") or []:
        if container and c["name"] != container:
            continue
        for m in c.get("volumeMounts") or []:
            if m["mountPath"].rstrip("/") == directory and "secret" in volumes.get(m["name"], {}):
                secret = volumes[m["name"]]["secret"]
                for item in secret.get("items") or []:
                    if item.get("path") == key:
                        return secret["secretName"], item["key"]
                return secret["secretName"], key
    return None, key


def host_of(url: str) -> tuple[str, str, int | None]:
    """(scheme, host, port) of nats://, tls://, redis://, rediss:// or host:port."""
    m = re.match(r"^(?:(\w+)://)?(?:[^@/]*@)?([^:/]+)(?::(\d+))?", url)
    return (m.group(1) or ""), m.group(2), (int(m.group(3)) if m.group(3) else None)


def certificate_for(stack: Stack, secret: str) -> Obj | None:
    return next((c for c in stack.of("Certificate") if c.spec.get("secretName") == secret), None)


def signer_keypair(stack: Stack, secret: str) -> str | None:
    """The CA key pair Secret that signed the certificate stored in `secret`."""
    cert = certificate_for(stack, secret)
    if cert is None:
        return None
    issuer = stack.named("Issuer", cert.spec["issuerRef"]["name"])
    if issuer and "ca" in issuer.spec:
        return issuer.spec["ca"]["secretName"]
    if issuer and "selfSigned" in issuer.spec:
        return secret
    return None


def trusted_keypair(stack: Stack, secret: str) -> str | None:
    """The CA whose certificate is the ca.crt of `secret`."""
    cert = certificate_for(stack, secret)
    if cert is not None and cert.spec.get("isCA") and signer_keypair(stack, secret) == secret:
        return secret
    return signer_keypair(stack, secret)


def dns_match(host: str, names: list[str]) -> bool:
    for name in names:
        if name == host:
            return True
        if name.startswith("*.") and "." in host and host.split(".", 1)[1] == name[2:]:
            return True
    return False
