"""Every pod the stack runs in the tasklane namespace is admitted under the
restricted Pod Security Standard the namespace enforces (infra/namespaces.yaml),
the upstream charts' pods included."""

from __future__ import annotations

from .model import NAMESPACE, Problems, Stack, skipped_hook

ALLOWED_VOLUMES = {"configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim",
                   "projected", "secret"}


def check(stack: Stack) -> int:
    problems = Problems()
    pods = [p for p in stack.pods() if p.namespace == NAMESPACE]
    for pod in pods:
        if skipped_hook(pod):
            print(f"  note: {pod} is an upstream `helm test` hook; it is not run (docs/how-to-run.md)")
            continue
        spec, psc = pod.spec, pod.spec.get("securityContext") or {}
        for field in ("hostNetwork", "hostPID", "hostIPC"):
            if spec.get(field):
                problems.add(f"{pod}: {field}")
        for vol in spec.get("volumes") or []:
            kind = next((k for k in vol if k != "name"), None)
            if kind not in ALLOWED_VOLUMES:
                problems.add(f"{pod}: volume {vol['name']} of type {kind}")
        for c in pod.containers():
            sc, where = c.get("securityContext") or {}, f"{pod} container {c['name']}"
            if not (sc.get("runAsNonRoot", psc.get("runAsNonRoot"))):
                problems.add(f"{where}: runAsNonRoot is not true")
            if sc.get("runAsUser", psc.get("runAsUser")) == 0:
                problems.add(f"{where}: runAsUser 0")
            seccomp = (sc.get("seccompProfile") or psc.get("seccompProfile") or {}).get("type")
            if seccomp not in ("RuntimeDefault", "Localhost"):
                problems.add(f"{where}: seccompProfile is {seccomp}, not RuntimeDefault")
            if sc.get("allowPrivilegeEscalation") is not False:
                problems.add(f"{where}: allowPrivilegeEscalation is not false")
            if sc.get("privileged"):
                problems.add(f"{where}: privileged")
            caps = sc.get("capabilities") or {}
            if "ALL" not in (caps.get("drop") or []):
                problems.add(f"{where}: capabilities do not drop ALL")
            if set(caps.get("add") or []) - {"NET_BIND_SERVICE"}:
                problems.add(f"{where}: adds capabilities {caps.get('add')}")
            if any(p.get("hostPort") for p in c.get("ports") or []):
                problems.add(f"{where}: hostPort")
    return problems.finish("pod security (restricted)", f"{len(pods)} pods")
