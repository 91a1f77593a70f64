//! The NATS message a task travels in: subject, headers and message id are decided
//! here, so the gateway hands over a task and never touches NATS types.
//!
//! A task given a start time travels first as its schedule: the same body and
//! headers on `schedules.<id>`, plus `Nats-Schedule: @at <run_at>` and the target
//! `due.<type>`, in the schedule stream (see [`super::topology`]). No consumer reads
//! that stream, so a waiting task takes no worker and no ack-pending slot; the server
//! stores the schedule like any message (it survives restarts) and at `run_at`
//! publishes the copy the work stream takes in as `tasks.<type>`. The schedule
//! carries the task id as `Nats-Msg-Id`, so a repeated publish of it within the
//! duplicate window is dropped, as an immediate task's is.

use std::time::SystemTime;

use async_nats::HeaderMap;
use bytes::Bytes;

use crate::names::{self, headers};
use crate::task::{TaskEnvelope, TaskType};
use crate::trace_context::TraceParent;

/// A task ready to publish: its envelope encoded once, plus what the headers carry.
/// The header map itself is built at publish time rather than stored, so a publish
/// never copies one.
#[derive(Debug, Clone)]
pub struct TaskMessage {
    subject: String,
    id: String,
    body: Bytes,
    traceparent: String,
    request_id: Option<String>,
    tenant: String,
    /// For a task given a start time, its schedule.
    schedule: Option<Schedule>,
}

/// Where and until when a delayed task waits.
#[derive(Debug, Clone)]
struct Schedule {
    /// `schedules.<id>`.
    subject: String,
    /// `due.<type>`.
    target: String,
    /// When it may start (RFC 3339 UTC, milliseconds).
    run_at: String,
}

impl TaskMessage {
    /// The message for `envelope` of `tenant`, carrying `trace` (the submitting hop:
    /// its span id is the parent of the worker's span); `request_id` is the submitting
    /// request's id, if it had one. The tenant travels as a header, so a worker that
    /// has to create the record can give it its owner, and a worker of an older
    /// version still reads the body.
    pub fn new(
        envelope: &TaskEnvelope,
        tenant: &str,
        trace: &TraceParent,
        request_id: Option<&str>,
    ) -> Self {
        Self {
            subject: envelope.task_type.subject(),
            id: envelope.id.to_string(),
            body: Bytes::from(serde_json::to_vec(envelope).expect("an envelope serializes")),
            traceparent: trace.header_value(),
            request_id: request_id.map(str::to_string),
            tenant: tenant.to_string(),
            schedule: None,
        }
    }

    /// The same task, published as a schedule that JetStream turns into the task at
    /// `run_at` (see the module notes); a time already past makes it due at once.
    /// `run_at` is rounded up to the millisecond the schedule names, so the task never
    /// starts before it.
    pub fn scheduled(mut self, run_at: SystemTime, task_type: &TaskType) -> Self {
        self.schedule = Some(Schedule {
            subject: names::schedule_subject(&self.id),
            target: names::due_subject(task_type.as_str()),
            run_at: crate::task::rfc3339_millis_rounded_up(run_at),
        });
        self
    }

    /// When a scheduled task may start, as its schedule names it.
    pub fn run_at(&self) -> Option<&str> {
        self.schedule.as_ref().map(|s| s.run_at.as_str())
    }

    /// The subject it is published to: `tasks.<type>`, or `schedules.<id>` for a
    /// scheduled task (the schedule stream's).
    pub fn subject(&self) -> &str {
        match &self.schedule {
            Some(schedule) => &schedule.subject,
            None => &self.subject,
        }
    }

    /// The message id JetStream deduplicates on: the task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub(crate) fn body(&self) -> Bytes {
        self.body.clone()
    }

    pub(crate) fn headers(&self) -> HeaderMap {
        let mut map = HeaderMap::new();
        map.insert(headers::TASK_ID, self.id.as_str());
        map.insert(headers::TRACEPARENT, self.traceparent.as_str());
        map.insert(headers::TENANT, self.tenant.as_str());
        if let Some(request_id) = &self.request_id {
            map.insert(headers::REQUEST_ID, request_id.as_str());
        }
        if let Some(schedule) = &self.schedule {
            map.insert(
                headers::SCHEDULE,
                format!("@at {}", schedule.run_at).as_str(),
            );
            map.insert(headers::SCHEDULE_TARGET, schedule.target.as_str());
        }
        map
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;
    use crate::task::TaskId;

    #[test]
    fn carries_the_task_id_request_id_and_the_submitting_hop() {
        let envelope = TaskEnvelope {
            id: TaskId::new(),
            task_type: TaskType::parse("img.resize").unwrap(),
            payload: RawValue::from_string("[1]".into()).unwrap(),
            max_attempts: None,
            timeout_ms: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let hop =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let message = TaskMessage::new(&envelope, "billing", &hop, Some("req-1"));
        assert_eq!(message.subject(), "tasks.img.resize");
        assert_eq!(message.id(), envelope.id.to_string());
        let map = message.headers();
        assert_eq!(map.get(headers::TASK_ID).unwrap().as_str(), message.id());
        assert_eq!(map.get(headers::REQUEST_ID).unwrap().as_str(), "req-1");
        assert_eq!(map.get(headers::TENANT).unwrap().as_str(), "billing");
        assert_eq!(
            map.get(headers::TRACEPARENT).unwrap().as_str(),
            hop.header_value()
        );
        let decoded: TaskEnvelope = serde_json::from_slice(&message.body()).unwrap();
        assert_eq!(decoded.id, envelope.id);
        assert!(map.get(headers::SCHEDULE).is_none());
    }

    #[test]
    fn a_scheduled_task_waits_on_its_own_subject_for_its_type_subject() {
        let envelope = TaskEnvelope {
            id: TaskId::new(),
            task_type: TaskType::parse("echo").unwrap(),
            payload: RawValue::from_string("1".into()).unwrap(),
            max_attempts: None,
            timeout_ms: None,
            created_at: "2026-01-01T00:00:00.000Z".into(),
        };
        let at =
            SystemTime::UNIX_EPOCH + std::time::Duration::from_nanos(1_767_225_600_123_000_001);
        let message = TaskMessage::new(&envelope, "default", &TraceParent::new_root(), None)
            .scheduled(at, &envelope.task_type);
        assert_eq!(message.subject(), format!("schedules.{}", envelope.id));
        assert_eq!(message.id(), envelope.id.to_string());
        // Rounded up, never down: the task must not start before `at`.
        assert_eq!(message.run_at(), Some("2026-01-01T00:00:00.124Z"));
        let map = message.headers();
        assert_eq!(
            map.get(headers::SCHEDULE).unwrap().as_str(),
            "@at 2026-01-01T00:00:00.124Z"
        );
        assert_eq!(
            map.get(headers::SCHEDULE_TARGET).unwrap().as_str(),
            "due.echo"
        );
        assert_eq!(map.get(headers::TASK_ID).unwrap().as_str(), message.id());
    }
}
