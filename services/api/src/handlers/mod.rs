//! One module per API action.

pub mod health;
pub mod stats;
pub mod submit_batch;
pub mod submit_task;
pub mod task_status;

use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tasklane_core::trace_context::TraceParent;

use crate::error::ApiError;

pub const IDEMPOTENCY_KEY: HeaderName = HeaderName::from_static("idempotency-key");
pub const IDEMPOTENT_REPLAYED: HeaderName = HeaderName::from_static("idempotent-replayed");
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A JSON body with its status.
pub fn json_response(status: StatusCode, body: String) -> Response {
    (
        status,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        )],
        body,
    )
        .into_response()
}

/// The stored answer of an earlier request with the same Idempotency-Key.
pub fn replay_response(status: u16, body: String) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    let location = (status == StatusCode::ACCEPTED)
        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(location_of));
    let mut response = json_response(status, body);
    let headers = response.headers_mut();
    headers.insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if let Some(location) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        headers.insert(header::LOCATION, location);
    }
    response
}

pub fn location_of(id: &str) -> String {
    format!("/task/{id}")
}

pub fn request_id(headers: &HeaderMap) -> Option<&str> {
    headers.get(REQUEST_ID).and_then(|v| v.to_str().ok())
}

/// The caller's trace context, or a new trace; recorded on the request span so every
/// log line of the request carries `trace_id`.
pub fn trace_context(headers: &HeaderMap) -> TraceParent {
    let trace = headers
        .get("traceparent")
        .and_then(|v| v.to_str().ok())
        .and_then(TraceParent::parse)
        .unwrap_or_else(TraceParent::new_root);
    tracing::Span::current().record("trace_id", trace.trace_id.as_str());
    trace
}

/// The `Idempotency-Key` header as text; a non-ASCII value is a validation error.
pub fn idempotency_header(headers: &HeaderMap) -> Result<Option<&str>, ApiError> {
    headers
        .get(IDEMPOTENCY_KEY)
        .map(|v| {
            v.to_str().map_err(|_| {
                ApiError::validation("Idempotency-Key: must be 1 to 255 visible ASCII characters")
            })
        })
        .transpose()
}
