//! The NATS message a task travels in: subject, headers and message id are decided
//! here, so the gateway hands over a task and never touches NATS types.

use async_nats::HeaderMap;
use bytes::Bytes;

use crate::names::headers;
use crate::task::TaskEnvelope;
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
        }
    }

    /// The subject it is published to (`tasks.<type>`).
    pub fn subject(&self) -> &str {
        &self.subject
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
        map
    }
}

#[cfg(test)]
mod tests {
    use serde_json::value::RawValue;

    use super::*;
    use crate::task::{TaskId, TaskType};

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
    }
}
