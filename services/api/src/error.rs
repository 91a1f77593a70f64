//! The one error type at the HTTP edge, rendered as RFC 9457 problem+json.
//!
//! Policy: a client sees a status, a stable `type`, a title and a detail that tells it
//! what to change. Internal causes (NATS or Valkey errors, bugs) are logged with
//! their cause chain and never sent: the client gets a generic detail and, for
//! dependency outages, 503 with `Retry-After` so it retries instead of giving up.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use tasklane_core::problem::Problem;

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    slug: &'static str,
    title: &'static str,
    pub detail: String,
    retry_after_secs: Option<u32>,
}

impl ApiError {
    fn new(
        status: StatusCode,
        slug: &'static str,
        title: &'static str,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title,
            detail: detail.into(),
            retry_after_secs: None,
        }
    }

    pub fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            detail,
        )
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this path does not accept that method",
        )
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency-in-flight",
            "Request in flight",
            detail,
        )
    }
    pub fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }
    pub fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with Content-Type: application/json",
        )
    }
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid task",
            detail,
        )
    }
    pub fn idempotency_mismatch() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-mismatch",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request body",
        )
    }
    pub fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "the gateway is at its concurrency limit; retry after the given delay",
        )
        .retry_after(1)
    }
    pub fn queue_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue-unavailable",
            "Queue unavailable",
            "the task queue is not reachable; nothing was accepted, retry later",
        )
        .retry_after(2)
    }
    pub fn store_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Result store unavailable",
            "the result store is not reachable; retry later",
        )
        .retry_after(2)
    }
    pub fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            "the request took too long; if it carried an Idempotency-Key, retrying it is safe",
        )
        .retry_after(2)
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the gateway failed to handle this request; it has been logged",
        )
    }

    pub fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    pub fn problem(&self) -> Problem<'_> {
        Problem::new(self.status, self.slug, self.title, &self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        self.problem().response(self.retry_after_secs)
    }
}
