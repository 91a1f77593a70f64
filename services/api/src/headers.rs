//! The HTTP headers the gateway reads and writes beyond the standard ones, and the
//! extractors that read them.

use std::convert::Infallible;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, HeaderValue};
use tasklane_core::trace_context::TraceParent;

/// The request id: set by the caller or by the gateway, echoed on every response.
pub(crate) const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
/// W3C Trace Context of the caller.
pub(crate) const TRACEPARENT: HeaderName = HeaderName::from_static("traceparent");
/// A client's key that makes a submission safe to retry.
pub(crate) const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
/// Set on an answer replayed for a retried Idempotency-Key.
pub(crate) const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");

/// Where a submission came from: its request id and the caller's trace. Extracting it
/// records `trace_id` on the request span, so every log line of the request has it.
pub(crate) struct Origin {
    pub(crate) request_id: Option<String>,
    /// The caller's trace context, or a new trace.
    pub(crate) trace: TraceParent,
}

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        let text = |name: &HeaderName| parts.headers.get(name).and_then(|v| v.to_str().ok());
        let trace = text(&TRACEPARENT)
            .and_then(TraceParent::parse)
            .unwrap_or_else(TraceParent::new_root);
        tracing::Span::current().record("trace_id", trace.trace_id.as_str());
        Ok(Self {
            request_id: text(&REQUEST_ID).map(str::to_string),
            trace,
        })
    }
}

/// The `Idempotency-Key` header as sent; intake checks it together with the body.
pub(crate) struct IdempotencyHeader(pub(crate) Option<HeaderValue>);

impl<S: Send + Sync> FromRequestParts<S> for IdempotencyHeader {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Infallible> {
        Ok(Self(parts.headers.get(IDEMPOTENCY_KEY).cloned()))
    }
}
