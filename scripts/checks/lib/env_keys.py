"""Every TASKLANE_* variable the charts hand to a container must be one the
binaries know: they refuse to start on an unknown one (services/core/src/config.rs
rejects unknown keys), so a typo in a chart is a crash loop in the cluster.

    python3 env_keys.py CONFIG RENDERED.yaml...            names are known
    python3 env_keys.py CONFIG --same API.yaml WORKER.yaml  ... and the keys both
        binaries read to name the shared stream agree

CONFIG is services/core/src/config.default.toml, where every key is documented
once (a key written as a comment has no default), or any file beside it such as
config.rs. A key added there is accepted here without editing this file.
"""

import re
import sys
import tomllib
from pathlib import Path

import yaml

# Only the worker declares the streams and the consumer, so of these only the stream
# name must still agree (the gateway checks that the stream exists). The other three
# stay while scripts/checks/20-k8s.sh still compares them; they go with `--same`.
SHARED = ("TASKLANE_STREAM__NAME", "TASKLANE_STREAM__REPLICAS",
          "TASKLANE_STREAM__DUPLICATE_WINDOW", "TASKLANE_WORKER__ACK_WAIT")

SECTION = re.compile(r"^\[([a-z_.]+)\]$")
ASSIGNMENT = re.compile(r"^(#\s*)?([a-z_]+)\s*=\s*(.*)$")


def known_names(config: Path) -> tuple[set[str], dict[str, str]]:
    """Variable names of every documented key, and the defaults of those that have one."""
    toml = config if config.suffix == ".toml" else config.parent / "config.default.toml"
    env, defaults, section = {"TASKLANE_CONFIG"}, {}, None
    for line in toml.read_text().splitlines():
        line = line.strip()
        if match := SECTION.match(line):
            section = match.group(1)
        elif section and (match := ASSIGNMENT.match(line)):
            name = "TASKLANE_" + f"{section}.{match.group(2)}".replace(".", "__").upper()
            env.add(name)
            if not match.group(1):
                defaults[name] = str(tomllib.loads(f"v = {match.group(3)}")["v"])
    if len(env) < 10:
        sys.exit(f"{toml}: only {len(env)} keys parsed; the parser is out of date")
    return env, defaults


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
    config_rs = Path(argv[0])
    known, defaults = known_names(config_rs)
    problems = []
    if argv[1] == "--same":
        a, b = Path(argv[2]), Path(argv[3])
        ea, eb = container_env(a), container_env(b)
        for name in SHARED:
            va, vb = ea.get(name, defaults.get(name)), eb.get(name, defaults.get(name))
            if va != vb:
                problems.append(f"{name} is {va!r} in {a} but {vb!r} in {b}")
        files = [a, b]
    else:
        files = [Path(f) for f in argv[1:]]
    total = 0
    for f in files:
        env = container_env(f)
        total += len(env)
        for name in sorted(set(env) - known):
            problems.append(f"{f}: {name} is not a key the binaries know (see {config_rs.name})")
    for p in problems:
        print(f"  FAIL {p}")
    if problems:
        return 1
    print(f"  {total} TASKLANE_ variables in {len(files)} render(s), all known"
          + (f"; {', '.join(SHARED)} agree" if argv[1] == "--same" else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
