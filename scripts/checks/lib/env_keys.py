"""Every TASKLANE_* variable the charts hand to a container must be one the
binaries know: they refuse to start on an unknown one, so a typo in a chart is a
crash loop in the cluster.

    python3 env_keys.py services/core/src/config.default.toml RENDERED.yaml...

config.default.toml documents every key once (a key written as a comment has no
default); a key added there is accepted here without editing this file.
"""

import re
import sys
from pathlib import Path

import yaml

SECTION = re.compile(r"^\[([a-z_.]+)\]$")
ASSIGNMENT = re.compile(r"^(#\s*)?([a-z][a-z0-9_]*)\s*=\s*(.*)$")


def known_names(toml: Path) -> set[str]:
    """Variable names of every documented key."""
    env, section = {"TASKLANE_CONFIG"}, None
    for line in toml.read_text().splitlines():
        line = line.strip()
        if match := SECTION.match(line):
            section = match.group(1)
        elif section and (match := ASSIGNMENT.match(line)):
            env.add("TASKLANE_" + f"{section}.{match.group(2)}".replace(".", "__").upper())
    if len(env) < 10:
        sys.exit(f"{toml}: only {len(env)} keys parsed; the parser is out of date")
    return env


def container_env(path: Path) -> dict[str, str]:
    """Name -> value (or '<secret>') of every TASKLANE_ variable a container gets,
    directly or through a ConfigMap it loads with envFrom."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    configmaps = {d["metadata"]["name"]: d.get("data") or {} for d in docs if d.get("kind") == "ConfigMap"}
    found: dict[str, str] = {}
    for doc in docs:
        if doc.get("kind") == "ConfigMap":
            continue
        spec = doc.get("spec") or {}
        # Deployments and Jobs carry a pod template; a bare Pod (helm test) is one.
        pod = (spec.get("template") or {}).get("spec") or spec
        for c in (pod.get("containers") or []) + (pod.get("initContainers") or []):
            for e in c.get("env") or []:
                found[e["name"]] = e.get("value", "<from %s>" % next(iter(e.get("valueFrom") or {"?": 0})))
            for src in c.get("envFrom") or []:
                ref = (src.get("configMapRef") or {}).get("name")
                for k, v in configmaps.get(ref, {}).items():
                    found[k] = str(v)
    # A ConfigMap nobody loads today may be loaded tomorrow: its names count too.
    for data in configmaps.values():
        for k, v in data.items():
            found.setdefault(k, str(v))
    return {k: v for k, v in found.items() if k.startswith("TASKLANE_")}


def main(argv: list[str]) -> int:
    config = Path(argv[0])
    known = known_names(config)
    problems = []
    files = [Path(f) for f in argv[1:]]
    total = 0
    for f in files:
        env = container_env(f)
        total += len(env)
        for name in sorted(set(env) - known):
            problems.append(f"{f}: {name} is not a key the binaries know (see {config.name})")
    for p in problems:
        print(f"  FAIL {p}")
    if problems:
        return 1
    print(f"  {total} TASKLANE_ variables in {len(files)} render(s), all known")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
