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

/// Where a submission came from: its request id and the trace it continues.
pub(crate) struct Origin {
    pub(crate) request_id: Option<String>,
    /// The hop the task's message carries: the exported request span when spans are
    /// exported, else a new span id in the caller's trace (or in a new trace).
    pub(crate) trace: TraceParent,
}

impl Origin {
    /// Reads both from `headers`, and records `trace_id` on the request span so every
    /// log line of the request has it.
    pub(crate) fn of(headers: &HeaderMap) -> Self {
        let text = |name: &HeaderName| headers.get(name).and_then(|v| v.to_str().ok());
        let span = tracing::Span::current();
        let trace = TraceParent::of_span(&span).unwrap_or_else(|| {
            text(&TRACEPARENT)
                .and_then(TraceParent::parse)
                .map_or_else(TraceParent::new_root, |caller| caller.child())
        });
        span.record("trace_id", trace.trace_id.as_str());
        Self {
            request_id: text(&REQUEST_ID).map(str::to_string),
            trace,
        }
    }
}
