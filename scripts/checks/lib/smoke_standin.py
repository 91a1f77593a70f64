"""A tiny stand-in for the tasklane gateway, to test scripts/smoke.sh offline.

It speaks just enough of the SPEC's HTTP API (/readyz, POST /task, GET /task/{id},
/stats) for the smoke script to pass, and each MODE breaks exactly one thing the
smoke script must catch. The real stack is exercised by the Rust tests; this one
proves the script's failure paths, which a healthy stack never takes.

    python3 smoke_standin.py MODE PORT_FILE

Binds an ephemeral loopback port, writes it to PORT_FILE, serves until killed.
"""

import json
import sys
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODES = {
    "ok": "healthy stack",
    "not-ready": "/readyz answers 503",
    "dead": "the task ends as dead",
    "stuck": "the task stays queued forever",
    "wrong-result": "the result is not the payload",
    "stats-missing": "/stats lacks dead_letter_count",
    "reject": "POST /task answers 503",
}


class Gateway(BaseHTTPRequestHandler):
    mode = "ok"
    tasks = {}
    processed = 0

    def log_message(self, fmt, *args):  # keep check output readable
        pass

    def reply(self, status, body, content_type="application/json"):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def problem(self, status, title):
        self.reply(status, {"type": "about:blank", "title": title, "status": status,
                            "detail": title}, "application/problem+json")

    def do_GET(self):
        cls = type(self)
        if self.path == "/readyz":
            if cls.mode == "not-ready":
                return self.reply(503, {"status": "unavailable",
                                        "checks": {"nats": "connection refused", "valkey": "ok"}})
            return self.reply(200, {"status": "ready", "checks": {"nats": "ok", "valkey": "ok"}})
        if self.path.startswith("/task/"):
            task = cls.tasks.get(self.path[len("/task/"):])
            if task is None:
                return self.problem(404, "task not found")
            # The first poll sees the task still queued, so the poll loop is exercised.
            task["polls"] += 1
            body = {k: v for k, v in task.items() if k != "polls"}
            if task["polls"] > 1 and cls.mode != "stuck":
                body["attempts"] = 1
                if cls.mode == "dead":
                    body.update(status="dead", error="attempts exhausted")
                else:
                    body["status"] = "succeeded"
                    body["result"] = {"other": True} if cls.mode == "wrong-result" else task["payload"]
                    if task["polls"] == 2:
                        cls.processed += 1
            return self.reply(200, body)
        if self.path == "/stats":
            stats = {"valkey_keys_count": 2 * len(cls.tasks), "queue_backlog_length": 0,
                     "worker_processed_count": cls.processed,
                     "worker_succeeded_count": cls.processed, "worker_failed_count": 0,
                     "dead_letter_count": 0,
                     "queue": {"pending": 0, "in_flight": 0, "redelivered": 0, "consumers": 1}}
            if cls.mode == "stats-missing":
                del stats["dead_letter_count"]
            return self.reply(200, stats)
        return self.problem(404, "not found")

    def do_POST(self):
        cls = type(self)
        if self.path != "/task":
            return self.problem(404, "not found")
        if self.headers.get("Content-Type") != "application/json":
            return self.problem(415, "content type must be application/json")
        try:
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
        except ValueError:
            return self.problem(400, "malformed JSON")
        if cls.mode == "reject":
            return self.problem(503, "queue unavailable")
        if "payload" not in body:
            return self.problem(422, "payload is required")
        task_id = str(uuid.uuid4())
        cls.tasks[task_id] = {"id": task_id, "type": body.get("type", "echo"),
                              "status": "queued", "attempts": 0,
                              "payload": body["payload"], "polls": 0}
        return self.reply(202, {"id": task_id, "status": "queued"})


def main():
    mode, port_file = sys.argv[1], sys.argv[2]
    if mode not in MODES:
        sys.exit("unknown mode %r; one of %s" % (mode, ", ".join(MODES)))
    Gateway.mode = mode
    server = ThreadingHTTPServer(("127.0.0.1", 0), Gateway)
    with open(port_file, "w") as f:
        f.write(str(server.server_address[1]))
    server.serve_forever()


if __name__ == "__main__":
    main()
