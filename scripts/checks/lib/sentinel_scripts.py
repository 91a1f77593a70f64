"""Runs the two scripts of the Sentinel setup against a real valkey-server on
loopback, with a stand-in valkey-cli that answers SENTINEL get-master-addr-by-name
as a peer Sentinel would (or, with no answer, as if none were reachable).

    sentinel_scripts.py --valkey-server BIN --sentinel-script F --valkey-values F

- infra/helm/valkey-sentinel/files/sentinel.sh: with a peer naming a primary it
  writes a configuration Sentinel starts on, monitoring that primary by name,
  logged in to it as the Sentinel ACL user, and requiring its own password;
  with no peer it falls back to valkey-0 of the chart and waits for its name.
- follow-sentinel (extraInitContainers of infra/helm/valkey/values.yaml): a pod
  follows the primary Sentinel names, stays primary when named, keeps the chart's
  role when no Sentinel answers, and the result is a configuration Valkey starts on.

The pod paths (/data, /valkey-users, /valkey-users-secret) are mapped into a
temporary folder, and
Sentinel binds to 127.0.0.1.
Exits non-zero with every problem found.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

DOMAIN = "tasklane.svc.cluster.local"
DEFAULT_PASSWORD = "default-secret"
SENTINEL_PASSWORD = "replicator-secret"
STUB_CLI = """#!/bin/sh
# A peer Sentinel's answer to SENTINEL get-master-addr-by-name, or nobody there.
[ -n "${STUB_PRIMARY:-}" ] || exit 1
printf '%s\\n%s\\n' "$STUB_PRIMARY" "${STUB_PORT:-6379}"
"""
problems: list[str] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def command(port: int, *args: str, auth: tuple[str, str] | None = None) -> list:
    """Replies to AUTH (when given) and then the command, as parsed RESP values."""
    with socket.create_connection(("127.0.0.1", port), timeout=3) as s:
        stream = s.makefile("rb")
        replies = []
        for cmd in ([("AUTH", *auth)] if auth else []) + [args]:
            s.sendall(f"*{len(cmd)}\r\n".encode() + b"".join(
                f"${len(a.encode())}\r\n{a}\r\n".encode() for a in cmd))
            replies.append(read_reply(stream))
        return replies


def read_reply(stream):
    line = stream.readline().decode().rstrip("\r\n")
    kind, rest = line[:1], line[1:]
    if kind in "+-":
        return line
    if kind == ":":
        return int(rest)
    if kind == "$":
        return None if rest == "-1" else stream.read(int(rest) + 2)[:-2].decode()
    if kind == "*":
        return None if rest == "-1" else [read_reply(stream) for _ in range(int(rest))]
    raise ValueError(f"unexpected reply {line!r}")


def wait_answering(port: int, process: subprocess.Popen, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and process.poll() is None:
        try:
            command(port, "PING")
            return True
        except OSError:
            time.sleep(0.1)
    return False


def check(cond: bool, what: str) -> None:
    if not cond:
        problems.append(what)


def start_primary(server: str, work: Path, processes: list) -> int:
    port = free_port()
    conf = work / "primary.conf"
    conf.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {work}\nsave \"\"\n"
        f"user default on >{DEFAULT_PASSWORD} ~* &* +@all\n"
        # The permissions infra/helm/valkey/values.yaml gives the Sentinel's user.
        f"user replicator on >{SENTINEL_PASSWORD} ~* &* +multi +exec +ping +info +role "
        "+subscribe +publish +slaveof +replicaof +config|rewrite +client|setname "
        "+client|kill +script|kill +psync +replconf\n")
    proc = subprocess.Popen([server, str(conf)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    processes.append(proc)
    if not wait_answering(port, proc):
        sys.exit("the Valkey primary for the test did not start")
    return port


def sentinel_env(stub: Path, primary_port: int, sentinel_port: int, answer: str) -> dict:
    return {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "STUB_PRIMARY": answer,
            "STUB_PORT": str(primary_port), "POD_NAME": "valkey-sentinel-0", "NAMESPACE": "tasklane",
            "CLUSTER_DOMAIN": "cluster.local", "SENTINEL_STATEFULSET": "valkey-sentinel",
            "SENTINEL_HEADLESS": "valkey-sentinel-headless", "SENTINEL_REPLICAS": "3",
            "SENTINEL_PORT": str(sentinel_port), "MASTER_NAME": "mymaster", "QUORUM": "2",
            "DOWN_AFTER_MILLISECONDS": "1000", "FAILOVER_TIMEOUT_MILLISECONDS": "60000",
            "PARALLEL_SYNCS": "1", "VALKEY_STATEFULSET": "valkey", "VALKEY_HEADLESS": "valkey-headless",
            "VALKEY_PORT": str(primary_port), "INITIAL_PRIMARY_ORDINAL": "0",
            "VALKEY_SENTINEL_USER": "replicator", "VALKEY_SENTINEL_PASSWORD": SENTINEL_PASSWORD,
            "REDISCLI_AUTH": DEFAULT_PASSWORD}


def check_sentinel_script(script_text: str, stub: Path, work: Path, primary_port: int, processes: list) -> None:
    # Loopback only here; in the pod Sentinel listens on the pod's addresses.
    script_text = script_text.replace("port $SENTINEL_PORT\n", "port $SENTINEL_PORT\nbind 127.0.0.1\n")
    secret = work / "sentinel-secret"
    secret.mkdir()
    for user in ("tasklane-api", "tasklane-worker", "tasklane-exporter"):
        (secret / user).write_text(f"{user}-secret\n")
    script_text = script_text.replace("/valkey-users", str(secret))
    # With a peer naming the primary (by a name that resolves here).
    data = work / "sentinel-peer"
    data.mkdir()
    script = work / "sentinel.sh"
    script.write_text(script_text.replace("/data", str(data)))
    script.chmod(0o755)
    port = free_port()
    log = (work / "sentinel.log").open("w")
    proc = subprocess.Popen([str(script)], env=sentinel_env(stub, primary_port, port, "localhost"),
                            stdout=log, stderr=subprocess.STDOUT)
    processes.append(proc)
    if not wait_answering(port, proc):
        problems.append(f"sentinel.sh: Sentinel did not start on the configuration it wrote "
                        f"({(work / 'sentinel.log').read_text()[-600:]})")
        return
    auth = ("default", DEFAULT_PASSWORD)
    check(command(port, "PING")[0].startswith("-NOAUTH"), "sentinel.sh: Sentinel answers without a password")
    check(command(port, "PING", auth=("default", "wrong"))[0].startswith("-WRONGPASS"),
          "sentinel.sh: Sentinel accepts a wrong password")
    addr = command(port, "SENTINEL", "get-master-addr-by-name", "mymaster", auth=auth)[1]
    check(addr == ["localhost", str(primary_port)],
          f"sentinel.sh: Sentinel names {addr} the primary, not the one its peer named (localhost:{primary_port})")
    # Logged in to the primary: its pings are answered, so after twice
    # down-after-milliseconds it is still not subjectively down.
    time.sleep(2.5)
    master = command(port, "SENTINEL", "master", "mymaster", auth=auth)[1]
    fields = dict(zip(master[::2], master[1::2])) if isinstance(master, list) else {}
    check(fields.get("flags") == "master",
          f"sentinel.sh: the primary's flags in Sentinel are {fields.get('flags')!r}, not 'master' "
          "(Sentinel cannot log in to it)")

    # With no peer answering: the chart's first primary, waited for until it resolves.
    data = work / "sentinel-alone"
    data.mkdir()
    script.write_text(script_text.replace("/data", str(data)))
    try:
        out = subprocess.run([str(script)], env=sentinel_env(stub, primary_port, free_port(), ""),
                             capture_output=True, text=True, timeout=4).stdout
    except subprocess.TimeoutExpired as waited:
        out = (waited.stdout or b"").decode()
    initial = f"valkey-0.valkey-headless.{DOMAIN}"
    check(f"watching the initial primary {initial}" in out and f"waiting until {initial} resolves" in out,
          f"sentinel.sh without peers: expected to wait for {initial}, said {out!r}")


def follow_sentinel(script_text: str, work: Path, stub: Path, pod: int, chart_conf: str, answer: str) -> str:
    case = work / f"follow-{pod}-{answer.split('.')[0] or 'none'}"
    (case / "data/conf").mkdir(parents=True)
    (case / "secret").mkdir()
    (case / "secret/default").write_text(DEFAULT_PASSWORD)
    (case / "secret/replicator").write_text(SENTINEL_PASSWORD)
    conf = case / "data/conf/valkey.conf"
    conf.write_text(chart_conf)
    text = script_text.replace("/data/", f"{case}/data/").replace("/valkey-users-secret/", f"{case}/secret/")
    env = {**os.environ, "PATH": f"{stub}:{os.environ['PATH']}", "STUB_PRIMARY": answer, "POD_INDEX": str(pod)}
    run = subprocess.run(["sh", "-c", text], env=env, capture_output=True, text=True, timeout=30)
    check(run.returncode == 0, f"follow-sentinel (pod {pod}, Sentinel names {answer or 'nothing'}) "
                               f"exited {run.returncode}: {run.stderr.strip()}")
    return conf.read_text()


def replicaof(conf: str) -> list[str]:
    return [line for line in conf.splitlines() if line.startswith("replicaof ")]


def check_follow_sentinel(values: str, server: str, work: Path, stub: Path, processes: list) -> None:
    init = next(c for c in yaml.safe_load(Path(values).read_text())["extraInitContainers"]
                if c["name"] == "follow-sentinel")
    script = init["args"][0]
    name = lambda i: f"valkey-{i}.valkey-headless.{DOMAIN}"  # noqa: E731
    chart_replica = f"port 6379\nreplicaof {name(0)} 6379\nmasteruser replicator\nmasterauth {SENTINEL_PASSWORD}\n"

    conf = follow_sentinel(script, work, stub, 0, "port 6379\n", name(1))
    check(replicaof(conf) == [f"replicaof {name(1)} 6379"],
          f"follow-sentinel: the old primary valkey-0 does not follow valkey-1: {replicaof(conf)}")
    for line in (f"replica-announce-ip {name(0)}", "masteruser replicator", f"masterauth {SENTINEL_PASSWORD}"):
        check(line in conf.splitlines(), f"follow-sentinel: valkey-0's configuration lacks {line.split()[0]}")
    # Valkey starts on it (as a replica of a name that does not resolve here).
    port = free_port()
    started = work / "follow-started.conf"
    started.write_text(conf.replace("port 6379", f"port {port}\nbind 127.0.0.1\ndir {work}"))
    proc = subprocess.Popen([server, str(started)], stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    processes.append(proc)
    if wait_answering(port, proc):
        role = command(port, "ROLE")[0]
        check(isinstance(role, list) and role[0] == "slave", f"follow-sentinel: valkey-0 started as {role}")
    else:
        problems.append("follow-sentinel: Valkey does not start on the configuration it leaves")

    conf = follow_sentinel(script, work, stub, 1, chart_replica, name(1))
    check(replicaof(conf) == [], f"follow-sentinel: valkey-1, named primary, still replicates: {replicaof(conf)}")
    conf = follow_sentinel(script, work, stub, 2, chart_replica, "")
    check(replicaof(conf) == [f"replicaof {name(0)} 6379"],
          f"follow-sentinel: with no Sentinel, valkey-2 left the chart's role: {replicaof(conf)}")


def arguments() -> argparse.Namespace:
    ap = argparse.ArgumentParser()
    ap.add_argument("--valkey-server", required=True)
    ap.add_argument("--sentinel-script", required=True)
    ap.add_argument("--valkey-values", required=True)
    return ap.parse_args()


def stub_bin(work: Path, server: str) -> Path:
    """A folder for PATH with the stand-in valkey-cli and the real valkey-server."""
    stub = work / "bin"
    stub.mkdir()
    (stub / "valkey-cli").write_text(STUB_CLI)
    (stub / "valkey-cli").chmod(0o755)
    (stub / "valkey-server").symlink_to(Path(server).resolve())
    return stub


def report(what: str, passed: str) -> int:
    for p in problems:
        print(f"  FAIL {p}")
    if problems:
        print(f"{what}: {len(problems)} problem(s)")
        return 1
    print(f"{what}: ok ({passed})")
    return 0


def main() -> int:
    a = arguments()
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tasklane-sentinel-scripts-") as tmp:
        work = Path(tmp)
        stub = stub_bin(work, a.valkey_server)
        try:
            primary = start_primary(a.valkey_server, work, processes)
            check_sentinel_script(Path(a.sentinel_script).read_text(), stub, work, primary, processes)
            check_follow_sentinel(a.valkey_values, a.valkey_server, work, stub, processes)
        finally:
            for proc in processes:
                proc.kill()
                proc.wait()
    return report("Sentinel scripts", "sentinel.sh with and without a peer, follow-sentinel in three roles")

if __name__ == "__main__":
    sys.exit(main())
