"""TLS settings of the clients match the servers': scheme, CA and host names.

NATS: the client port and the routes require TLS when nats.conf has a tls
block; then every client (gateway, worker, nats-box) must use tls:// (or a
nats-box context with a CA), trust the CA that signed the server certificate,
and connect to a host name the certificate carries. Routes present a
certificate for each route host that is usable as client and server. KEDA
reads /jsz over https exactly when the server serves it so. Valkey: rediss://
exactly when Valkey serves TLS.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from . import natsconf as nc
from .model import Problems, Stack


def check_nats(stack: Stack, problems: Problems) -> int:
    conf, server = nc.server_config(stack), nc.server_pod(stack)
    if conf is None or server is None:
        problems.add("no NATS server configuration rendered (ConfigMap with nats.conf)")
        return 0
    checked = 0
    tls = conf.get("tls")
    server_secret = nc.mounted_secret(server, tls["cert_file"], "nats")[0] if tls else None
    server_ca = nc.mounted_secret(server, tls["ca_file"], "nats")[0] if tls and tls.get("ca_file") else None
    cert = nc.certificate_for(stack, server_secret) if server_secret else None
    names = (cert.spec.get("dnsNames") or []) if cert else None
    signer = nc.signer_keypair(stack, server_secret) if server_secret else None

    def client(where: str, url: str, ca_secret: str | None) -> None:
        nonlocal checked
        checked += 1
        scheme, host, _ = nc.host_of(url)
        if not tls:
            if scheme == "tls":
                problems.add(f"{where}: {url} asks for TLS, but the NATS servers serve none")
            return
        if ca_secret is None:
            problems.add(f"{where}: NATS requires TLS with a private CA, but {url} is used without a CA file")
        elif cert is not None and nc.trusted_keypair(stack, ca_secret) != signer:
            problems.add(f"{where}: trusts the CA of Secret {ca_secret}, but the server certificate "
                         f"{server_secret} is signed by {signer}")
        elif cert is None and server_ca and ca_secret != server_ca:
            problems.add(f"{where}: trusts Secret {ca_secret}, the servers use {server_ca}")
        if scheme not in ("tls", "") and where.startswith("ConfigMap"):
            problems.add(f"{where}: {url}: the NATS servers require TLS, use tls://")
        if names is not None and not nc.dns_match(host, names):
            problems.add(f"{where}: host {host} is not in the server certificate's names {names}")

    for cm in stack.of("ConfigMap"):
        url = (cm.doc.get("data") or {}).get("TASKLANE_NATS__URL")
        if not url:
            continue
        ca_file = cm.doc["data"].get("TASKLANE_NATS__TLS__CA_FILE")
        ca_secret = None
        for pod in stack.pods():
            uses = any(ef.get("configMapRef", {}).get("name") == cm.name
                       for c in pod.spec.get("containers") or [] for ef in c.get("envFrom") or [])
            if uses and ca_file:
                ca_secret = nc.mounted_secret(pod, ca_file)[0]
        client(f"ConfigMap/{cm.name}", url, ca_secret)

    box = next((o for o in stack.of("Secret") if o.name.endswith("-contexts")), None)
    if box is not None:
        box_pod = next((p for p in stack.pods() if p.labels.get("app.kubernetes.io/component") == "nats-box"), None)
        for key, text in (box.doc.get("stringData") or {}).items():
            ctx = json.loads(text)
            ca = nc.mounted_secret(box_pod, ctx["ca"])[0] if ctx.get("ca") and box_pod else None
            client(f"nats-box context {key}", ctx.get("url", ""), ca)

    cluster = conf.get("cluster") or {}
    routes = cluster.get("routes") or []
    if routes and not cluster.get("tls") and tls:
        problems.add("NATS routes run without TLS while clients must use it")
    if cluster.get("tls"):
        csecret = nc.mounted_secret(server, cluster["tls"]["cert_file"], "nats")[0]
        ccert = nc.certificate_for(stack, csecret)
        if ccert is not None:
            usages = set(ccert.spec.get("usages") or [])
            if not {"server auth", "client auth"} <= usages:
                problems.add(f"{ccert}: route certificates must allow server auth and client auth, "
                             f"nats-server verifies both ends; has {sorted(usages)}")
            for route in routes:
                checked += 1
                host = nc.host_of(route)[1]
                if not nc.dns_match(host, ccert.spec.get("dnsNames") or []):
                    problems.add(f"route {route}: {host} is not in {ccert}'s names")
            rca = nc.mounted_secret(server, cluster["tls"].get("ca_file", ""), "nats")[0]
            if rca and nc.trusted_keypair(stack, rca) != nc.signer_keypair(stack, csecret):
                problems.add(f"routes trust {rca}, but their certificate {csecret} has another signer")

    https = "https_port" in conf
    for so in stack.of("ScaledObject"):
        for trig in so.spec.get("triggers") or []:
            if trig.get("type") == "nats-jetstream":
                checked += 1
                wants = str(trig["metadata"].get("useHttps", "false")).lower() == "true"
                if wants != https:
                    problems.add(f"{so}: useHttps {wants}, but NATS serves monitoring over "
                                 f"{'https' if https else 'plain http'}")
    return checked


def valkey_urls(stack: Stack, operator_docs: list[str]) -> list[tuple[str, str]]:
    """Every Valkey URL tasklane is given: ExternalSecret templates, and the
    URLs the operator's doc and script write into the Secrets."""
    urls = []
    for es in stack.of("ExternalSecret"):
        data = ((es.spec.get("target") or {}).get("template") or {}).get("data") or {}
        if "valkey-url" in data:
            urls.append((str(es), data["valkey-url"]))
    for doc in operator_docs:
        # A shell script's $ns stands for the namespace it is run for.
        text = re.sub(r"\$\{?(ns|NS|namespace)\}?", "tasklane", Path(doc).read_text())
        for m in re.finditer(r"\b(?:rediss?|valkeys?)://[^\s`\"']+", text):
            urls.append((doc, m.group(0)))
    return urls


def check_valkey(stack: Stack, operator_docs: list[str], problems: Problems) -> int:
    conf = next((o.doc["data"]["valkey.conf"] for o in stack.of("ConfigMap")
                 if "valkey.conf" in (o.doc.get("data") or {})), "")
    served_tls = "tls-port" in conf or any(
        "tls" in str(c.get("args")) for p in stack.pods() if p.labels.get("app.kubernetes.io/name") == "valkey"
        for c in p.spec.get("containers") or [] if c["name"] == "valkey")
    urls = valkey_urls(stack, operator_docs)
    if not urls:
        problems.add("no Valkey URL found (ExternalSecret template or operator doc valkey-url=)")
    for where, url in urls:
        scheme = nc.host_of(url)[0]
        if (scheme in ("rediss", "valkeys")) != served_tls:
            problems.add(f"{where}: {url}: Valkey serves {'TLS' if served_tls else 'plain TCP'}")
    return len(urls)


def check(stack: Stack, operator_docs: list[str]) -> int:
    problems = Problems()
    count = check_nats(stack, problems) + check_valkey(stack, operator_docs, problems)
    return problems.finish("TLS", f"{count} client settings against the servers'")
