"""Runs three real Sentinels from the configurations sentinel.sh writes, over a
real Valkey primary and replica that have the ACL users of the valkey chart, all
on loopback, and checks who may do what and that a failover gets its votes.

    sentinel_acl.py --valkey-server BIN --sentinel-script F --valkey-values F

- tasklane-api and tasklane-worker log in to Sentinel with their own passwords and
  may send what fred sends there (AUTH, SENTINEL get-master-addr-by-name, SENTINEL
  sentinels) and nothing that changes Sentinel (SET, FAILOVER, REMOVE, MONITOR,
  RESET, CONFIG); the metrics sidecar's user reads Sentinel's state only.
- The Sentinels find each other and, after a kill -9 of the primary, agree it is
  down, elect a leader and promote the replica (logged in to it as the replicator
  user) within a bounded time; every Sentinel then names the replica. Sentinel's
  ACL log stays empty: nothing the Sentinels send each other is refused.

sentinel.sh runs as in the pod but with its paths mapped into a temporary folder,
Sentinel bound to loopback and announcing 127.0.0.1; a stand-in valkey-cli names
the primary as a peer Sentinel would. Exits non-zero with every problem found.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

from sentinel_scripts import (arguments, check, command, free_port, problems, report, sentinel_env, stub_bin,
                              wait_answering)

MASTER = "mymaster"
FAILOVER_SECONDS = 40
# Subcommands that change what Sentinel watches or does: no client user may send them.
CHANGES = [("SET", MASTER, "quorum", "1"), ("FAILOVER", MASTER), ("REMOVE", MASTER),
           ("MONITOR", "other", "127.0.0.1", "1", "2"), ("RESET", "*"), ("CONFIG", "SET", "resolve-hostnames", "no"),
           ("FLUSHCONFIG",)]


def password(user: str) -> str:
    return f"{user}-secret"


def valkey_conf(values: str, port: int, work: Path, primary: int | None) -> Path:
    """A Valkey configuration with the chart's ACL users (auth.aclUsers)."""
    users = yaml.safe_load(Path(values).read_text())["auth"]["aclUsers"]
    lines = [f"port {port}", "bind 127.0.0.1", f"dir {work}", 'save ""']
    lines += [f"user {name} on >{password(name)} {spec['permissions']}" for name, spec in users.items()]
    if primary is not None:
        lines += [f"replicaof 127.0.0.1 {primary}", "masteruser replicator", f"masterauth {password('replicator')}"]
    conf = work / f"valkey-{port}.conf"
    conf.write_text("\n".join(lines) + "\n")
    return conf


def start(argv: list[str], port: int, processes: list, log: Path) -> subprocess.Popen:
    proc = subprocess.Popen(argv, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True)
    processes.append(proc)
    if not wait_answering(port, proc):
        sys.exit(f"{argv[0]} did not start on port {port}: {log.read_text()[-600:]}")
    return proc


def start_sentinel(script_text: str, stub: Path, work: Path, index: int, primary: int, processes: list) -> int:
    data = work / f"sentinel-{index}"
    secret = data / "secret"
    secret.mkdir(parents=True)
    for user in ("tasklane-api", "tasklane-worker", "tasklane-exporter"):
        (secret / user).write_text(password(user) + "\n")
    # Loopback only, announced as 127.0.0.1: the pod's DNS names do not resolve here.
    text = (script_text.replace("port $SENTINEL_PORT\n", "port $SENTINEL_PORT\nbind 127.0.0.1\n")
            .replace('self="$POD_NAME.$SENTINEL_HEADLESS.$domain"', "self=127.0.0.1")
            .replace("/valkey-users", str(secret)).replace("/data", str(data)))
    script = data / "sentinel.sh"
    script.write_text(text)
    script.chmod(0o755)
    port = free_port()
    # A failover that splits its votes is retried after twice the failover timeout.
    env = {**sentinel_env(stub, primary, port, "127.0.0.1"), "POD_NAME": f"valkey-sentinel-{index}",
           "FAILOVER_TIMEOUT_MILLISECONDS": "10000"}
    proc = subprocess.Popen([str(script)], env=env, stdout=(data / "log").open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)
    processes.append(proc)
    if not wait_answering(port, proc):
        sys.exit(f"Sentinel {index} did not start on the configuration sentinel.sh wrote: "
                 f"{(data / 'log').read_text()[-800:]}")
    return port


def ask(port: int, user: str, *args: str):
    """The reply to the command after logging in as user (the AUTH error if refused)."""
    auth, reply = command(port, *args, auth=(user, password(user)))
    return reply if auth == "+OK" else auth


def until(seconds: float, probe) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if probe():
                return True
        except OSError:
            pass
        time.sleep(0.25)
    return False


def check_clients(sentinel: int, primary: int) -> None:
    for user in ("tasklane-api", "tasklane-worker"):
        addr = ask(sentinel, user, "SENTINEL", "get-master-addr-by-name", MASTER)
        check(addr == ["127.0.0.1", str(primary)],
              f"{user} cannot ask Sentinel for the primary: {addr!r}")
        peers = ask(sentinel, user, "SENTINEL", "sentinels", MASTER)
        check(isinstance(peers, list), f"{user} cannot list the Sentinels (fred asks on connect): {peers!r}")
        for change in CHANGES:
            reply = ask(sentinel, user, "SENTINEL", *change)
            check(isinstance(reply, str) and reply.startswith("-NOPERM"),
                  f"{user} may send SENTINEL {change[0]}: {reply!r}")
    wrong = command(sentinel, "PING", auth=("tasklane-api", "wrong"))[0]
    check(wrong.startswith("-WRONGPASS"), f"Sentinel accepts tasklane-api with a wrong password: {wrong!r}")
    # What redis_exporter reads from a Sentinel on each scrape.
    for read in (("INFO", "ALL"), ("SENTINEL", "MASTERS"), ("SENTINEL", "CKQUORUM", MASTER),
                 ("SENTINEL", "SENTINELS", MASTER), ("SENTINEL", "SLAVES", MASTER)):
        reply = ask(sentinel, "tasklane-exporter", *read)
        # CKQUORUM may answer NOQUORUM while the Sentinels are still finding each other.
        check(not (isinstance(reply, str) and reply.startswith(("-NOPERM", "-WRONGPASS"))),
              f"tasklane-exporter cannot read {' '.join(read)}: {reply!r}")
    reply = ask(sentinel, "tasklane-exporter", "SENTINEL", "SET", MASTER, "quorum", "1")
    check(isinstance(reply, str) and reply.startswith("-NOPERM"), f"tasklane-exporter may change Sentinel: {reply!r}")


def knows_peers_and_replica(sentinel: int) -> bool:
    master = ask(sentinel, "default", "SENTINEL", "master", MASTER)
    fields = dict(zip(master[::2], master[1::2])) if isinstance(master, list) else {}
    return fields.get("num-other-sentinels") == "2" and fields.get("num-slaves") == "1"


def check_failover(sentinels: list[int], primary: subprocess.Popen, replica: int) -> None:
    def names(port: int) -> list:
        return ask(port, "default", "SENTINEL", "get-master-addr-by-name", MASTER)

    started = time.monotonic()
    os.kill(primary.pid, signal.SIGKILL)
    primary.wait()
    promoted = until(FAILOVER_SECONDS, lambda: all(names(p) == ["127.0.0.1", str(replica)] for p in sentinels))
    took = time.monotonic() - started
    check(promoted, f"no failover within {FAILOVER_SECONDS} s of the primary's kill -9: the Sentinels name "
                    f"{[names(p) for p in sentinels]}, the replica is 127.0.0.1:{replica}")
    if promoted:
        role = command(replica, "ROLE", auth=("default", password("default")))[1]
        check(isinstance(role, list) and role[0] == "master", f"the replica Sentinel named is {role!r}")
        print(f"  failover: every Sentinel names the replica {took:.1f} s after the primary's kill -9")


def main() -> int:
    a = arguments()
    processes: list[subprocess.Popen] = []
    with tempfile.TemporaryDirectory(prefix="tasklane-sentinel-acl-") as tmp:
        work = Path(tmp)
        stub = stub_bin(work, a.valkey_server)
        try:
            primary_port, replica_port = free_port(), free_port()
            primary = start([a.valkey_server, str(valkey_conf(a.valkey_values, primary_port, work, None))],
                            primary_port, processes, work / "primary.log")
            start([a.valkey_server, str(valkey_conf(a.valkey_values, replica_port, work, primary_port))],
                  replica_port, processes, work / "replica.log")
            script = Path(a.sentinel_script).read_text()
            sentinels = [start_sentinel(script, stub, work, i, primary_port, processes) for i in range(3)]
            check_clients(sentinels[0], primary_port)
            # Its refusals are logged: from here on the log holds what the Sentinels refuse each other.
            ask(sentinels[0], "default", "ACL", "LOG", "RESET")
            if until(30, lambda: all(knows_peers_and_replica(p) for p in sentinels)):
                check_failover(sentinels, primary, replica_port)
            else:
                problems.append("the Sentinels did not find each other and the replica within 30 s")
            for port in sentinels:
                denied = ask(port, "default", "ACL", "LOG")
                check(denied == [], f"Sentinel on {port} refused commands: {denied!r}")
        finally:
            for proc in processes:
                if proc.poll() is None:
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    return report("Sentinel ACL users and failover",
                  "client users read-only, three Sentinels promote the replica")


if __name__ == "__main__":
    sys.exit(main())
