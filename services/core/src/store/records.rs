//! Task records and the counters behind `GET /stats`: what they hold, and the script
//! calls that write many of them at once.

use std::collections::HashMap;
use std::future::Future;

use fred::prelude::*;
use fred::types::scripts::Script;

use crate::names::keys;
use crate::task::{TaskStatus, now_rfc3339};
use crate::tenant::DEFAULT_TENANT;

/// A task record as stored.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    /// The task id.
    pub id: String,
    /// The task type.
    pub task_type: String,
    /// The tenant it belongs to.
    pub tenant: String,
    /// Where the task is in its life.
    pub status: TaskStatus,
    /// Attempts started so far.
    pub attempts: u32,
    /// When the task was accepted (RFC 3339 UTC).
    pub created_at: String,
    /// When the record last changed (RFC 3339 UTC).
    pub updated_at: String,
    /// Raw JSON of the handler's result.
    pub result: Option<String>,
    /// Why the last attempt failed, or why the task died.
    pub error: Option<String>,
    /// The dead task this one re-drives.
    pub redriven_from: Option<String>,
    /// The task this dead one was re-driven as.
    pub redriven_to: Option<String>,
    /// For a delayed task, when it may start at the earliest (RFC 3339 UTC).
    pub run_at: Option<String>,
}

/// What `start_attempt` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStart {
    /// The attempt was counted; `attempt` is its number (1-based).
    Started {
        /// The attempt's number, 1 for the first.
        attempt: u32,
    },
    /// The task already has an outcome; this delivery is a duplicate.
    AlreadyFinished(TaskStatus),
    /// The task was cancelled before this delivery: it must not run. Nothing was
    /// written but the record's expiry.
    Cancelled,
    /// A redelivery of a message older than the records' ttl found no record: the
    /// task finished and its record expired (records of unfinished tasks never
    /// expire), so this delivery is a duplicate.
    RecordExpired,
    /// Every allowed attempt was started and none ended with an outcome: the worker
    /// died or was killed while running them (the task may be what kills it).
    Exhausted {
        /// Attempts started.
        attempts: u32,
        /// Why the last attempt that reported back failed, if any did.
        last_error: Option<String>,
    },
}

/// The outcome written by `finish`.
#[derive(Debug, Clone)]
pub enum FinalOutcome<'a> {
    /// The handler returned `result` (raw JSON).
    Succeeded {
        /// Raw JSON of the handler's result.
        result: &'a str,
    },
    /// The task failed for good (a permanent error).
    Failed {
        /// Why.
        error: &'a str,
    },
    /// Every attempt failed; the task went to the dead-letter stream.
    Dead {
        /// Why the last attempt failed.
        error: &'a str,
    },
}

impl FinalOutcome<'_> {
    /// The status the record ends in.
    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Succeeded { .. } => TaskStatus::Succeeded,
            Self::Failed { .. } => TaskStatus::Failed,
            Self::Dead { .. } => TaskStatus::Dead,
        }
    }
}

/// Identity of the task a record is about, used when a worker writes first.
#[derive(Debug, Clone, Copy)]
pub struct RecordIdentity<'a> {
    /// The task id.
    pub id: &'a str,
    /// The task type.
    pub task_type: &'a str,
    /// When the task was accepted (RFC 3339 UTC).
    pub created_at: &'a str,
    /// The tenant it belongs to.
    pub tenant: &'a str,
}

/// A `queued` record as the gateway writes it.
#[derive(Debug, Clone, Copy)]
pub struct QueuedRecord<'a> {
    /// The task.
    pub task: RecordIdentity<'a>,
    /// For a delayed task, when it may start at the earliest (RFC 3339 UTC).
    pub run_at: Option<&'a str>,
}

impl<'a> From<RecordIdentity<'a>> for QueuedRecord<'a> {
    fn from(task: RecordIdentity<'a>) -> Self {
        Self { task, run_at: None }
    }
}

/// [`QueuedRecord`] that can wait in a group-commit queue.
pub(crate) struct OwnedQueued {
    task: OwnedIdentity,
    run_at: Option<String>,
}

impl From<QueuedRecord<'_>> for OwnedQueued {
    fn from(record: QueuedRecord<'_>) -> Self {
        Self {
            task: record.task.into(),
            run_at: record.run_at.map(str::to_string),
        }
    }
}

impl OwnedQueued {
    pub(crate) fn borrow(&self) -> QueuedRecord<'_> {
        QueuedRecord {
            task: self.task.borrow(),
            run_at: self.run_at.as_deref(),
        }
    }
}

/// The counters behind `GET /stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    /// Tasks with an outcome.
    pub processed: u64,
    /// Tasks that succeeded.
    pub succeeded: u64,
    /// Tasks that failed for good.
    pub failed: u64,
    /// Tasks that were dead-lettered.
    pub dead: u64,
    /// Tasks cancelled before they finished (not part of `processed`).
    pub cancelled: u64,
}

/// [`RecordIdentity`] that can wait in a group-commit queue.
pub(crate) struct OwnedIdentity {
    id: String,
    task_type: String,
    created_at: String,
    tenant: String,
}

impl From<RecordIdentity<'_>> for OwnedIdentity {
    fn from(task: RecordIdentity<'_>) -> Self {
        Self {
            id: task.id.to_string(),
            task_type: task.task_type.to_string(),
            created_at: task.created_at.to_string(),
            tenant: task.tenant.to_string(),
        }
    }
}

impl OwnedIdentity {
    pub(crate) fn borrow(&self) -> RecordIdentity<'_> {
        RecordIdentity {
            id: &self.id,
            task_type: &self.task_type,
            created_at: &self.created_at,
            tenant: &self.tenant,
        }
    }
}

/// One task's `start_attempt`, waiting for its batch.
pub(crate) struct AttemptRequest {
    pub(crate) task: OwnedIdentity,
    pub(crate) max_attempts: u32,
    /// Delivered before (see [`crate::store::Store::start_attempt`]).
    pub(crate) redelivered: bool,
    /// When the message was published, in milliseconds since the epoch.
    pub(crate) published_ms: u64,
}

/// One task's `finish`, waiting for its batch.
pub(crate) struct OutcomeRequest {
    pub(crate) task: OwnedIdentity,
    pub(crate) status: TaskStatus,
    pub(crate) result: String,
    pub(crate) error: String,
    /// Attempts the finishing worker knows were made.
    pub(crate) attempts: u32,
}

impl OutcomeRequest {
    pub(crate) fn new(task: RecordIdentity<'_>, outcome: &FinalOutcome<'_>, attempts: u32) -> Self {
        let (result, error) = match outcome {
            FinalOutcome::Succeeded { result } => (*result, ""),
            FinalOutcome::Failed { error } | FinalOutcome::Dead { error } => ("", *error),
        };
        Self {
            task: task.into(),
            status: outcome.status(),
            result: result.to_string(),
            error: crate::task::bounded_error(error.to_string()),
            attempts,
        }
    }
}

/// One `record_queued_many.lua` call for `tasks`; returns how many were written.
pub(crate) fn record_queued(
    client: &Client,
    script: &Script,
    records: &[QueuedRecord<'_>],
) -> impl Future<Output = Result<u64, fred::error::Error>> + use<> {
    let mut task_keys = Vec::with_capacity(records.len());
    let mut args = Vec::with_capacity(records.len() * 5);
    for QueuedRecord { task, run_at } in records {
        task_keys.push(keys::task(task.id));
        args.push(task.id.to_string());
        args.push(task.task_type.to_string());
        args.push(task.created_at.to_string());
        args.push(task.tenant.to_string());
        args.push(run_at.unwrap_or_default().to_string());
    }
    let (client, script) = (client.clone(), script.clone());
    async move {
        let written: i64 = script.evalsha_with_reload(&client, task_keys, args).await?;
        Ok(written.max(0) as u64)
    }
}

/// One `start_attempt_many.lua` call for `requests`, answered in their order.
pub(crate) async fn start_attempts(
    client: Client,
    script: Script,
    ttl_ms: u64,
    requests: Vec<AttemptRequest>,
) -> Result<Vec<AttemptStart>, fred::error::Error> {
    let task_keys: Vec<String> = requests.iter().map(|r| keys::task(&r.task.id)).collect();
    let mut args = Vec::with_capacity(2 + requests.len() * 6);
    let now_ms = crate::task::now_millis();
    args.push(now_rfc3339());
    args.push(ttl_ms.to_string());
    for request in requests {
        let late = request.redelivered && now_ms.saturating_sub(request.published_ms) > ttl_ms;
        args.push(request.task.id);
        args.push(request.task.task_type);
        args.push(request.task.created_at);
        args.push(request.task.tenant);
        args.push(request.max_attempts.to_string());
        args.push(if late { "1" } else { "0" }.to_string());
    }
    let reply: Vec<String> = script.evalsha_with_reload(&client, task_keys, args).await?;
    Ok(reply.chunks(3).map(parse_attempt_start).collect())
}

/// One task's part of the `start_attempt_many.lua` reply: status, attempts, last error.
fn parse_attempt_start(reply: &[String]) -> AttemptStart {
    let attempt = reply.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let last_error = reply.get(2).filter(|e| !e.is_empty()).cloned();
    match reply.first().map(String::as_str) {
        Some("exhausted") => AttemptStart::Exhausted {
            attempts: attempt,
            last_error,
        },
        Some("expired") => AttemptStart::RecordExpired,
        status => match status.and_then(TaskStatus::parse) {
            Some(TaskStatus::Cancelled) => AttemptStart::Cancelled,
            Some(status) if status.is_terminal() => AttemptStart::AlreadyFinished(status),
            _ => AttemptStart::Started { attempt },
        },
    }
}

/// One `finish_many.lua` call for `requests`: true for each outcome it wrote.
pub(crate) async fn write_outcomes(
    client: Client,
    script: Script,
    ttl_ms: u64,
    requests: Vec<OutcomeRequest>,
) -> Result<Vec<bool>, fred::error::Error> {
    let mut script_keys = Vec::with_capacity(1 + requests.len());
    script_keys.push(keys::STATS.to_string());
    script_keys.extend(requests.iter().map(|r| keys::task(&r.task.id)));
    let mut args = Vec::with_capacity(2 + requests.len() * 8);
    args.push(now_rfc3339());
    args.push(ttl_ms.to_string());
    for request in requests {
        args.push(request.status.as_str().to_string());
        args.push(request.result);
        args.push(request.error);
        args.push(request.task.id);
        args.push(request.task.task_type);
        args.push(request.task.created_at);
        args.push(request.task.tenant);
        args.push(request.attempts.to_string());
    }
    let written: Vec<i64> = script
        .evalsha_with_reload(&client, script_keys, args)
        .await?;
    Ok(written.into_iter().map(|w| w == 1).collect())
}

/// A record from its hash fields; `None` when the hash is empty (no such task).
pub(crate) fn parse_record(fields: HashMap<String, String>) -> Option<TaskRecord> {
    if fields.is_empty() {
        return None;
    }
    let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
    Some(TaskRecord {
        id: get("id"),
        task_type: get("type"),
        tenant: fields
            .get("tenant")
            .cloned()
            .unwrap_or_else(|| DEFAULT_TENANT.to_string()),
        status: fields
            .get("status")
            .and_then(|s| TaskStatus::parse(s))
            .unwrap_or(TaskStatus::Queued),
        attempts: fields
            .get("attempts")
            .and_then(|a| a.parse().ok())
            .unwrap_or(0),
        created_at: get("created_at"),
        updated_at: get("updated_at"),
        result: fields.get("result").cloned(),
        error: fields.get("error").cloned(),
        redriven_from: fields.get("redriven_from").cloned(),
        redriven_to: fields.get("redriven_to").cloned(),
        run_at: fields.get("run_at").cloned(),
    })
}

/// The stats hash's fields, in the order [`counters_from`] reads them.
pub(crate) const COUNTER_FIELDS: [&str; 5] =
    ["processed", "succeeded", "failed", "dead", "cancelled"];

pub(crate) fn counters_from(values: &[Option<u64>]) -> Counters {
    let at = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
    Counters {
        processed: at(0),
        succeeded: at(1),
        failed: at(2),
        dead: at(3),
        cancelled: at(4),
    }
}
