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

/// Longest request id kept from a caller.
const MAX_REQUEST_ID_LEN: usize = 128;

/// A caller's request id is kept only when it is 1 to 128 of `A-Za-z0-9._:-`: it
/// goes into log lines, NATS headers and task records, where anything else could
/// forge fields or grow without bound.
pub(crate) fn is_usable_request_id(id: &[u8]) -> bool {
    (1..=MAX_REQUEST_ID_LEN).contains(&id.len())
        && id
            .iter()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

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
            // The router replaced an unusable id before this runs.
            request_id: text(&REQUEST_ID).map(str::to_string),
            trace,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::is_usable_request_id;

    #[test]
    fn request_ids_are_kept_only_in_the_allowed_alphabet_and_length() {
        for ok in ["a", "req-42", "A.b_c:d-9", &"x".repeat(128)] {
            assert!(is_usable_request_id(ok.as_bytes()), "{ok}");
        }
        let long = "x".repeat(129);
        for bad in [
            "",
            " ",
            "a b",
            "a\"b",
            "line\nbreak",
            "é",
            "a/b",
            "{}",
            &long,
        ] {
            assert!(!is_usable_request_id(bad.as_bytes()), "{bad:?}");
        }
    }
}
