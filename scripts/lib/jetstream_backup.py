"""Backs up and restores JetStream streams through the server's snapshot API, and
prints stream and consumer state; docs/backup-restore.md is the runbook.

    jetstream_backup.py [connection] backup STREAM DIR   snapshot (with consumers) into DIR
    jetstream_backup.py [connection] restore DIR         recreate the stream DIR holds
    jetstream_backup.py [connection] state STREAM [CONSUMER...]   counts as one JSON line

connection: --server URL (default nats://127.0.0.1:4222), --user, --password (or the
NATS_USER / NATS_PASSWORD environment variables, as nats-box sets them), --tls-ca
FILE and --tls-hostname NAME (the name in the server certificate, for a
port-forward to 127.0.0.1).

The `nats` CLI has `stream backup` and `stream restore`, but its releases come from
GitHub only and Debian does not package it; this tool does the same over the same
API ($JS.API.STREAM.SNAPSHOT / RESTORE) with the nats-py client from PyPI. DIR
holds `backup.json` (the stream's configuration and state at snapshot time) and
`stream.tar.s2` (the server's snapshot: messages and, unless the stream has none,
its consumers with their delivery state).
"""

import argparse
import asyncio
import json
import os
import ssl
import sys
from pathlib import Path

import nats

CHUNK = 128 * 1024
API_TIMEOUT = 10.0


async def api(nc, subject: str, request: dict | None = None, timeout: float = API_TIMEOUT) -> dict:
    payload = json.dumps(request).encode() if request is not None else b""
    reply = json.loads((await nc.request(subject, payload, timeout=timeout)).data)
    if reply.get("error"):
        raise SystemExit(f"{subject}: {reply['error'].get('description', reply['error'])}")
    return reply


async def backup(nc, stream: str, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    inbox = nc.new_inbox()
    chunks = await nc.subscribe(inbox)
    meta = await api(nc, f"$JS.API.STREAM.SNAPSHOT.{stream}",
                     {"deliver_subject": inbox, "chunk_size": CHUNK, "no_consumers": False})
    size = 0
    with open(out / "stream.tar.s2", "wb") as data:
        while True:
            msg = await chunks.next_msg(timeout=API_TIMEOUT)
            if not msg.data:          # an empty message ends the snapshot
                break
            data.write(msg.data)
            size += len(msg.data)
            if msg.reply:             # flow control: the server waits for these
                await nc.publish(msg.reply, b"")
    await chunks.unsubscribe()
    (out / "backup.json").write_text(json.dumps(
        {"config": meta["config"], "state": meta["state"]}, indent=2) + "\n")
    print(f"backed up stream {stream}: {meta['state']['messages']} messages, {size} bytes to {out}")


async def restore(nc, src: Path) -> None:
    meta = json.loads((src / "backup.json").read_text())
    stream = meta["config"]["name"]
    start = await api(nc, f"$JS.API.STREAM.RESTORE.{stream}",
                      {"config": meta["config"], "state": meta["state"]})
    target = start["deliver_subject"]
    with open(src / "stream.tar.s2", "rb") as data:
        while chunk := data.read(CHUNK):
            await nc.request(target, chunk, timeout=API_TIMEOUT)
    # The empty message ends the upload; the answer comes once the stream is rebuilt.
    done = json.loads((await nc.request(target, b"", timeout=120)).data)
    if done.get("error"):
        raise SystemExit(f"restore of {stream}: {done['error'].get('description', done['error'])}")
    print(f"restored stream {stream}: {done['state']['messages']} messages")


async def state(nc, stream: str, consumers: list[str]) -> None:
    info = await api(nc, f"$JS.API.STREAM.INFO.{stream}")
    out = {"stream": stream, "messages": info["state"]["messages"],
           "first_seq": info["state"]["first_seq"], "last_seq": info["state"]["last_seq"]}
    for name in consumers:
        c = await api(nc, f"$JS.API.CONSUMER.INFO.{stream}.{name}")
        out[name] = {"num_pending": c["num_pending"], "num_ack_pending": c["num_ack_pending"],
                     "delivered_stream_seq": c["delivered"]["stream_seq"],
                     "ack_floor_stream_seq": c["ack_floor"]["stream_seq"],
                     "ack_wait": c["config"]["ack_wait"]}
    print(json.dumps(out, sort_keys=True))


async def main(args: argparse.Namespace) -> None:
    options = {"servers": [args.server], "connect_timeout": 5, "max_reconnect_attempts": 0,
               "allow_reconnect": False}
    if args.user:
        options.update(user=args.user, password=args.password)
    if args.tls_ca:
        options["tls"] = ssl.create_default_context(cafile=args.tls_ca)
        if args.tls_hostname:
            options["tls_hostname"] = args.tls_hostname
    nc = await nats.connect(**options)
    try:
        if args.command == "backup":
            await backup(nc, args.stream, Path(args.dir))
        elif args.command == "restore":
            await restore(nc, Path(args.dir))
        else:
            await state(nc, args.stream, args.consumers)
    finally:
        await nc.close()


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--server", default="nats://127.0.0.1:4222")
    p.add_argument("--user", default=os.environ.get("NATS_USER"))
    p.add_argument("--password", default=os.environ.get("NATS_PASSWORD"))
    p.add_argument("--tls-ca")
    p.add_argument("--tls-hostname")
    sub = p.add_subparsers(dest="command", required=True)
    b = sub.add_parser("backup")
    b.add_argument("stream")
    b.add_argument("dir")
    r = sub.add_parser("restore")
    r.add_argument("dir")
    s = sub.add_parser("state")
    s.add_argument("stream")
    s.add_argument("consumers", nargs="*")
    return p.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse(sys.argv[1:])))
