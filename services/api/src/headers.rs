//! The HTTP headers the gateway reads and writes beyond the standard ones.

use axum::http::{HeaderMap, HeaderName};
use tasklane_core::trace_context::TraceParent;

/// The request id: set by the caller or by the gateway, echoed on every response.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C Trace Context of the caller.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// A client's key that makes a submission safe to retry.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed for a retried Idempotency-Key.
pub(crate) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Where a submission came from: its request id and the caller's trace.
pub(crate) struct Origin {
    pub(crate) request_id: Option<String>,
    /// The caller's trace context, or a new trace.
    pub(crate) trace: TraceParent,
}

impl Origin {
    /// Reads both from `headers`, and records `trace_id` on the request span so every
    /// log line of the request has it.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let trace = text(&TRACEPARENT)
            .and_then(TraceParent::parse)
            .unwrap_or_else(TraceParent::new_root);
        tracing::Span::current().record("trace_id", trace.trace_id.as_str());
        Self {
            request_id: text(&REQUEST_ID).map(str::to_string),
            trace,
        }
    }
}
