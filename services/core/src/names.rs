//! Every name tasklane puts on the wire, in one place: JetStream subjects and the
//! consumer, message headers, and Valkey keys. The work stream's own name is a setting
//! (`stream.name`); the dead-letter stream's name is derived from it here.
//!
//! Renaming anything in this module strands data written under the old name (queued
//! tasks, dead letters, task records), so each is part of the product contract.

/// Subject prefix of the work stream: a task of type `t` is published to `tasks.t`.
pub const TASK_SUBJECT_PREFIX: &str = "tasks";
/// Subject prefix of delayed tasks' schedules in the schedule stream: a task delayed
/// until later waits as one message on `schedules.<task id>` until JetStream
/// publishes it to `due.<type>` at its time.
pub const SCHEDULE_SUBJECT_PREFIX: &str = "schedules";
/// Subject prefix of delayed tasks that came due, in the schedule stream; the work
/// stream sources them as `tasks.<type>`.
pub const DUE_SUBJECT_PREFIX: &str = "due";
/// Subject prefix of the dead-letter stream: see [`dead_letter_subject`].
pub const DEAD_LETTER_SUBJECT_PREFIX: &str = "dlq";
/// Name of the durable pull consumer all worker replicas share.
pub const CONSUMER_NAME: &str = "workers";

/// The subject a task of `task_type` is published to.
pub fn task_subject(task_type: &str) -> String {
    format!("{TASK_SUBJECT_PREFIX}.{task_type}")
}

/// The subject task `id` of `task_type` is dead-lettered to: `dlq.<id>.<type>`. The
/// id comes first so that one task's dead letter is found by `dlq.<id>.>` and every
/// dead letter of a type by `dlq.*.<type>`, without reading the others. An id that is
/// not a task id (a malformed message's) cannot be a subject token safely; such a
/// message goes to `dlq.<type>`, where it is listed but never looked up by id.
pub fn dead_letter_subject(id: &str, task_type: &str) -> String {
    if id.parse::<crate::task::TaskId>().is_ok() {
        format!("{DEAD_LETTER_SUBJECT_PREFIX}.{id}.{task_type}")
    } else {
        format!("{DEAD_LETTER_SUBJECT_PREFIX}.{task_type}")
    }
}

/// The subject a delayed task's schedule waits on. One subject per task, so the
/// schedule of one task can be found and removed (purge by subject) on its own.
pub fn schedule_subject(task_id: &str) -> String {
    format!("{SCHEDULE_SUBJECT_PREFIX}.{task_id}")
}

/// The subject a delayed task of `task_type` is published to when it comes due.
pub fn due_subject(task_type: &str) -> String {
    format!("{DUE_SUBJECT_PREFIX}.{task_type}")
}

/// The subjects a stream with `prefix` captures (`tasks.>`, `dlq.>`).
pub(crate) fn all_subjects(prefix: &str) -> String {
    format!("{prefix}.>")
}

/// Where the replies to client `client_name` (`tasklane-api`, `tasklane-worker`,
/// `tasklane-setup`) arrive: `_INBOX.<client_name>.…`, the subjects its NATS user
/// may subscribe to (`infra/helm/nats/values.yaml`).
pub fn inbox_prefix(client_name: &str) -> String {
    format!("_INBOX.{client_name}")
}

/// The stream where the delayed tasks of the work stream `work_stream` wait.
pub fn schedule_stream(work_stream: &str) -> String {
    format!("{work_stream}_SCHEDULED")
}

/// The dead-letter stream that belongs to the work stream `work_stream`.
pub fn dead_letter_stream(work_stream: &str) -> String {
    format!("{work_stream}_DLQ")
}

/// The scope re-drives of dead tasks reserve their idempotency keys in: a name no
/// tenant can have (`~` is not allowed in one), so a client's `Idempotency-Key` never
/// meets a re-drive's.
pub const REDRIVE_SCOPE: &str = "~redrive";

/// Message headers. A task's id also travels as JetStream's own `Nats-Msg-Id`, so a
/// repeated publish of the same task inside the duplicate window is dropped.
pub mod headers {
    /// JetStream's deduplication header; carries the task id.
    pub const MSG_ID: &str = "Nats-Msg-Id";
    /// JetStream message scheduling (nats-server 2.12+): on a delayed task's schedule,
    /// `@at <RFC 3339>`, when the server publishes it to [`SCHEDULE_TARGET`]. The
    /// published copy keeps every other header of the schedule but `Nats-Msg-Id`.
    pub const SCHEDULE: &str = "Nats-Schedule";
    /// On a delayed task's schedule: the subject it is published to (`due.<type>`).
    pub const SCHEDULE_TARGET: &str = "Nats-Schedule-Target";
    /// The task id, readable without decoding the body.
    pub const TASK_ID: &str = "Tasklane-Task-Id";
    /// The tenant the task belongs to; `default` when absent.
    pub const TENANT: &str = "Tasklane-Tenant";
    /// The `X-Request-Id` of the HTTP request that submitted the task.
    pub const REQUEST_ID: &str = "Tasklane-Request-Id";
    /// W3C Trace Context of the task's hop through the queue.
    pub const TRACEPARENT: &str = "traceparent";
    /// On a dead letter: why the task died.
    pub const ERROR: &str = "Tasklane-Error";
    /// On a dead letter: how many attempts were started.
    pub const ATTEMPTS: &str = "Tasklane-Attempts";
    /// On a dead letter: the subject the task was published to.
    pub const ORIGINAL_SUBJECT: &str = "Tasklane-Original-Subject";
    /// On a dead letter: the task's sequence in the work stream.
    pub const ORIGINAL_SEQUENCE: &str = "Tasklane-Original-Sequence";
}

/// Valkey keys.
pub(crate) mod keys {
    /// One hash per task record: `tasklane:task:<id>`.
    const TASK_PREFIX: &str = "tasklane:task:";
    /// One string per idempotency key: `tasklane:idem:<key>`.
    const IDEMPOTENCY_PREFIX: &str = "tasklane:idem:";
    /// Per-tenant keys: `tasklane:tenant:<tenant>:outstanding` (tasks accepted and not
    /// finished, kept by the record scripts), `tasklane:tenant:<tenant>:rate` (the
    /// rate limiter's state) and `tasklane:tenant:<tenant>:leases` (the outstanding
    /// slots each gateway's admission lease reserves, a hash by gateway id).
    pub(crate) const TENANT_PREFIX: &str = "tasklane:tenant:";
    /// One hash holds the counters behind `GET /stats`; it has no TTL.
    pub(crate) const STATS: &str = "tasklane:stats";

    pub(crate) fn task(id: &str) -> String {
        format!("{TASK_PREFIX}{id}")
    }

    /// A tenant's idempotency key: tenant names cannot contain `:`, so two tenants'
    /// keys never meet.
    pub(crate) fn idempotency(tenant: &str, key: &str) -> String {
        format!("{IDEMPOTENCY_PREFIX}{tenant}:{key}")
    }

    pub(crate) fn outstanding(tenant: &str) -> String {
        format!("{TENANT_PREFIX}{tenant}:outstanding")
    }

    pub(crate) fn rate(tenant: &str) -> String {
        format!("{TENANT_PREFIX}{tenant}:rate")
    }

    pub(crate) fn leases(tenant: &str) -> String {
        format!("{TENANT_PREFIX}{tenant}:leases")
    }
}
