//! The one error type at the HTTP edge, rendered as RFC 9457 problem+json.
//!
//! Policy: a client sees a status, a stable `type`, a title and a detail that tells it
//! what to change. Internal causes (NATS or Valkey errors, bugs) travel with the error
//! as [`Cause`]s and are logged once, with their chain, by [`log_causes`] inside the
//! request's span; they are never sent. For dependency outages the client gets a
//! generic detail and 503 with `Retry-After`, so it retries instead of giving up.

mod cause;

use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use tasklane_core::problem::Problem;
use tasklane_core::task::TaskId;

pub(crate) use self::cause::{Cause, Causes, log_causes};

/// A problem answer, plus the internal causes behind it.
#[derive(Debug, Clone)]
pub struct ApiError {
    status: StatusCode,
    slug: &'static str,
    title: &'static str,
    detail: String,
    retry_after_secs: Option<u32>,
    /// Headers the problem needs beyond `Retry-After` (`WWW-Authenticate`, `RateLimit`).
    headers: Vec<(HeaderName, HeaderValue)>,
    causes: Vec<Cause>,
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
            headers: Vec::new(),
            causes: Vec::new(),
        }
    }

    /// 400: the body is not JSON.
    pub(crate) fn malformed_json(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "malformed-json",
            "Malformed JSON",
            detail,
        )
    }

    /// 400: the request cannot be read (a path parameter, a broken body stream).
    pub(crate) fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }

    /// 404: nothing by that name.
    pub(crate) fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }

    /// 404: no task `id` for this tenant. Another tenant's task gets exactly this
    /// answer, so a caller cannot tell that the id exists.
    pub(crate) fn task_not_found(id: TaskId) -> Self {
        Self::not_found(format!("no task {id} (unknown, or its record expired)"))
    }

    /// 409: the task already ended with `status`; a cancellation changes nothing.
    pub(crate) fn already_finished(id: TaskId, status: &str) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "already-finished",
            "Task already finished",
            format!("task {id} already finished with status `{status}`; nothing was changed"),
        )
    }

    /// 405: the path exists, the method does not.
    pub(crate) fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            "Method not allowed",
            "this path does not accept that method",
        )
    }

    /// 409: another request with the same Idempotency-Key is still being handled.
    pub(crate) fn idempotency_in_flight() -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "idempotency-in-flight",
            "Request in flight",
            "a request with this Idempotency-Key is still in flight; retry shortly",
        )
        .retry_after(1)
    }

    /// 409: the dead task was re-driven before (or is being re-driven now).
    pub(crate) fn already_redriven(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::CONFLICT,
            "already-redriven",
            "Already re-driven",
            detail,
        )
    }

    /// 409: the task exists but is not dead, or its dead letter is not a task.
    pub(crate) fn not_dead(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "not-dead", "Not a dead task", detail)
    }

    /// 413: the body is over `api.max_body_bytes`.
    pub(crate) fn payload_too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!("the request body exceeds {limit} bytes"),
        )
    }

    /// 415: the body is not declared as JSON.
    pub(crate) fn unsupported_media_type() -> Self {
        Self::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported-media-type",
            "Unsupported media type",
            "send the body as JSON with Content-Type: application/json",
        )
    }

    /// 422: well-formed JSON that is not a valid task; `detail` names the field.
    pub(crate) fn validation(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation",
            "Invalid task",
            detail,
        )
    }

    /// 422: the Idempotency-Key was used before with a different body.
    pub(crate) fn idempotency_mismatch() -> Self {
        Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "idempotency-mismatch",
            "Idempotency key reused",
            "this Idempotency-Key was used with a different request body",
        )
    }

    /// 429: the gateway is at `api.max_in_flight`.
    pub(crate) fn too_many_requests() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "the gateway is at its concurrency limit; retry after the given delay",
        )
        .retry_after(1)
    }

    /// 429: the request bodies in flight hold `api.max_in_flight_body_bytes`.
    pub(crate) fn body_budget_spent() -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            "the gateway holds as many request bytes as it may; retry after the given delay",
        )
        .retry_after(1)
    }

    /// 503: JetStream did not take the task.
    pub(crate) fn queue_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue-unavailable",
            "Queue unavailable",
            "the task queue is not reachable; nothing was accepted, retry later",
        )
        .retry_after(2)
    }

    /// 503: the publish may or may not have been stored (no PubAck in time, or the
    /// connection broke while waiting for it).
    pub(crate) fn publish_unconfirmed() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "publish-unconfirmed",
            "Publish unconfirmed",
            "the task queue did not confirm the task; it may have been accepted: retry with the same Idempotency-Key to get exactly one task",
        )
        .retry_after(2)
    }

    /// 503: the work stream is at its `stream.max_msgs` / `stream.max_bytes`.
    pub(crate) fn queue_full() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "queue-full",
            "Queue full",
            "the task queue is full; nothing was accepted, retry after the given delay",
        )
        .retry_after(5)
    }

    /// 413: the task as published would be over the NATS server's `max_payload`.
    pub(crate) fn task_too_large(max: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload-too-large",
            "Payload too large",
            format!(
                "the task is larger than the queue accepts ({max} bytes with its headers); send a smaller payload"
            ),
        )
    }

    /// 503: Valkey did not answer.
    pub(crate) fn store_unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "store-unavailable",
            "Result store unavailable",
            "the result store is not reachable; retry later",
        )
        .retry_after(2)
    }

    /// 503: the request ran past `api.request_timeout`.
    pub(crate) fn timeout() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "timeout",
            "Request timed out",
            "the request took too long; if it carried an Idempotency-Key, retrying it is safe",
        )
        .retry_after(2)
    }

    /// 500: a bug.
    pub(crate) fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "Internal error",
            "the gateway failed to handle this request; it has been logged",
        )
    }

    /// 401: no valid credentials; which part of a token was wrong is never said.
    pub(crate) fn unauthorized() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            "send a valid token as `Authorization: Bearer <token>`",
        )
    }

    /// 403: the credentials are valid but lack `scope`.
    pub(crate) fn forbidden(scope: &str) -> Self {
        Self::new(
            StatusCode::FORBIDDEN,
            "forbidden",
            "Forbidden",
            format!("this endpoint needs the `{scope}` scope"),
        )
    }

    /// 429: the tenant is over its rate; retry after `seconds`.
    pub(crate) fn tenant_rate_limited(detail: impl Into<String>, seconds: u32) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate-limited",
            "Too many requests",
            detail,
        )
        .retry_after(seconds.max(1))
    }

    /// 429: the tenant has too many tasks accepted and not finished.
    pub(crate) fn too_many_outstanding(limit: u64) -> Self {
        Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too-many-outstanding",
            "Too many outstanding tasks",
            format!(
                "this tenant has reached its limit of {limit} tasks accepted and not finished; nothing was accepted, retry once some have finished"
            ),
        )
        .retry_after(1)
    }

    /// The same error with `name: value` on its response.
    pub(crate) fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    fn retry_after(mut self, seconds: u32) -> Self {
        self.retry_after_secs = Some(seconds);
        self
    }

    /// The status it is answered with.
    pub(crate) fn status(&self) -> StatusCode {
        self.status
    }

    /// The same error, with `cause` to be logged behind it.
    pub(crate) fn caused_by(mut self, cause: Cause) -> Self {
        self.causes.push(cause);
        self
    }

    /// The same error about the part of the request at `location` (`tasks[3]`).
    pub(crate) fn at(mut self, location: &str) -> Self {
        self.detail = format!("{location}: {}", self.detail);
        self
    }

    /// The causes behind this error, leaving none.
    pub(crate) fn take_causes(&mut self) -> Vec<Cause> {
        std::mem::take(&mut self.causes)
    }

    /// The body a client sees.
    pub(crate) fn problem(&self) -> Problem<'_> {
        Problem::new(self.status, self.slug, self.title, &self.detail)
    }
}

impl IntoResponse for ApiError {
    fn into_response(mut self) -> Response {
        let mut response = self.problem().response(self.retry_after_secs);
        for (name, value) in std::mem::take(&mut self.headers) {
            response.headers_mut().insert(name, value);
        }
        let causes = self.take_causes();
        if !causes.is_empty() {
            response.extensions_mut().insert(Causes(causes));
        }
        response
    }
}
