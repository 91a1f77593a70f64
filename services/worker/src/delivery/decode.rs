//! From a JetStream message to a task, or to the reason it is not one.

use async_nats::jetstream::Message;
use tasklane_core::names::headers;
use tasklane_core::store::RecordIdentity;
use tasklane_core::task::{TaskEnvelope, now_millis};
use tasklane_core::tenant::{DEFAULT_TENANT, is_valid_tenant};
use tasklane_core::trace_context::TraceParent;

/// The type a message that is not a task is recorded and dead-lettered under
/// (subject `dlq.malformed`).
pub const MALFORMED_TYPE: &str = "malformed";

/// A delivery of a well-formed task.
pub struct Task {
    pub envelope: TaskEnvelope,
    /// The envelope's id as text, as the store and the handler take it.
    pub id: String,
    /// How often JetStream has delivered the message, this delivery included.
    pub deliveries: i64,
    /// When the gateway published it, in milliseconds since the epoch.
    pub published_ms: u64,
    /// Its position in the work stream, which a dead letter refers to.
    pub sequence: u64,
    /// The gateway's hop, if the message carries a valid one.
    trace: Option<TraceParent>,
    request_id: String,
    /// The tenant it belongs to, for a record this worker creates.
    tenant: String,
}

/// A message that is not a task: not JSON, not a task's shape, or a task on another
/// type's subject.
pub struct Malformed {
    /// The message id its publisher set, else `seq-<stream sequence>`.
    pub id: String,
    pub sequence: u64,
    pub reason: String,
}

pub fn decode(message: &Message) -> Result<Task, Malformed> {
    let (deliveries, published_ms, sequence) = match message.info() {
        Ok(info) => (
            info.delivered,
            (info.published.unix_timestamp_nanos() / 1_000_000) as u64,
            info.stream_sequence,
        ),
        Err(_) => (1, now_millis(), 0),
    };
    let malformed = |reason: String| Malformed {
        id: header(message, headers::MSG_ID)
            .map_or_else(|| format!("seq-{sequence}"), str::to_string),
        sequence,
        reason,
    };
    let envelope = match serde_json::from_slice::<TaskEnvelope>(&message.payload) {
        Ok(envelope) if message.subject.as_str() == envelope.task_type.subject() => envelope,
        Ok(envelope) => {
            return Err(malformed(format!(
                "task type `{}` does not match subject `{}`",
                envelope.task_type, message.subject
            )));
        }
        Err(e) => return Err(malformed(format!("malformed task: {e}"))),
    };
    Ok(Task {
        id: envelope.id.to_string(),
        envelope,
        deliveries,
        published_ms,
        sequence,
        trace: header(message, headers::TRACEPARENT).and_then(TraceParent::parse),
        request_id: header(message, headers::REQUEST_ID)
            .unwrap_or_default()
            .to_string(),
        // A name that is not a tenant's cannot have come from the gateway; it must
        // not become a key in Valkey either.
        tenant: header(message, headers::TENANT)
            .filter(|tenant| is_valid_tenant(tenant))
            .unwrap_or(DEFAULT_TENANT)
            .to_string(),
    })
}

fn header<'a>(message: &'a Message, name: &str) -> Option<&'a str> {
    Some(message.headers.as_ref()?.get(name)?.as_str())
}

impl Task {
    pub fn task_type(&self) -> &str {
        self.envelope.task_type.as_str()
    }

    /// The task record's identity, for a worker that writes it first.
    pub fn record(&self) -> RecordIdentity<'_> {
        RecordIdentity {
            id: &self.id,
            task_type: self.task_type(),
            created_at: &self.envelope.created_at,
            tenant: &self.tenant,
        }
    }

    /// The span every log line about this delivery belongs to; `attempt` is
    /// recorded once Valkey has counted it.
    pub fn span(&self) -> tracing::Span {
        let span = tracing::info_span!(
            "task",
            task_id = %self.envelope.id,
            task_type = %self.envelope.task_type,
            attempt = tracing::field::Empty,
            delivery = self.deliveries,
            trace_id = tracing::field::Empty,
            request_id = %self.request_id,
        );
        let trace_id = match &self.trace {
            Some(gateway) => {
                // The gateway's span is this attempt's parent in the exported trace.
                gateway.adopt(&span);
                gateway.trace_id.clone()
            }
            None => {
                TraceParent::of_span(&span)
                    .unwrap_or_else(TraceParent::new_root)
                    .trace_id
            }
        };
        span.record("trace_id", trace_id.as_str());
        span
    }
}
