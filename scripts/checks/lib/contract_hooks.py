"""schemathesis hooks for scripts/checks/68-api-contract.sh.

Generated requests draw their idempotency keys (the Idempotency-Key header, and
`idempotency_key` in batch tasks) from a small space, so two of them often share
a key with different bodies, or one batch repeats a key: the gateway rightly
answers 422 (idempotency-mismatch, or a repeated key), which no schema can rule
out. A real client sends a new key per new request: each valid key gets a unique
suffix here, so a 422 on a valid request means a real fault. Invalid keys are
left as drawn, so their 422 is still checked. Reused keys are tested in
services/tests/tests/idempotency.rs.

A task's start time has two rules no schema states: `delay_ms` and `run_at` are
not given together, and `run_at` is at most 30 days ahead of now. A task drawn
with both keeps only `run_at`, and a `run_at` string becomes a time a minute
ahead; a `run_at` of another type is left as drawn, so its 422 is still checked.
Both rules are tested in services/tests/tests/delayed_tasks.rs.
"""

import datetime
import re
import uuid

import schemathesis

HEADER = "Idempotency-Key"
VALID = re.compile(r"[!-~]{1,255}")


def unique(key):
    if isinstance(key, str) and VALID.fullmatch(key):
        # Still valid: at most 222 + 1 + 32 = 255 characters.
        return f"{key[:222]}-{uuid.uuid4().hex}"
    return key


def start_within_bounds(task):
    if not isinstance(task, dict) or not isinstance(task.get("run_at"), str):
        return
    task.pop("delay_ms", None)
    soon = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=1)
    task["run_at"] = soon.isoformat(timespec="milliseconds")


@schemathesis.hook
def before_call(ctx, case, **kwargs):
    if case.headers and HEADER in case.headers:
        case.headers[HEADER] = unique(case.headers[HEADER])
    start_within_bounds(case.body)
    tasks = case.body.get("tasks") if isinstance(case.body, dict) else None
    for task in tasks if isinstance(tasks, list) else []:
        start_within_bounds(task)
        if isinstance(task, dict) and "idempotency_key" in task:
            task["idempotency_key"] = unique(task["idempotency_key"])
