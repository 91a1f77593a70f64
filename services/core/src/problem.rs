//! RFC 9457 problem details: the one error body both binaries send. The gateway's
//! `ApiError` is its catalogue of problems; the worker's health port only ever says
//! "not found".

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// The media type of a problem body.
const CONTENT_TYPE: &str = "application/problem+json";
/// Where each problem `type` is explained: the slug is the anchor in `docs/errors.md`.
const TYPE_BASE: &str = "https://github.com/tasklane/tasklane/blob/main/docs/errors.md#";

/// A problem body.
#[derive(Debug, Clone, Serialize)]
pub struct Problem<'a> {
    /// A URL naming the kind of problem; stable, so clients can branch on it.
    #[serde(rename = "type")]
    pub problem_type: String,
    /// A short, fixed summary of the kind.
    pub title: &'a str,
    /// The HTTP status.
    pub status: u16,
    /// What went wrong with this request, and what to change.
    pub detail: &'a str,
}

impl<'a> Problem<'a> {
    /// A problem of kind `slug` (its anchor in `docs/errors.md`).
    pub fn new(status: StatusCode, slug: &str, title: &'a str, detail: &'a str) -> Self {
        Self {
            problem_type: format!("{TYPE_BASE}{slug}"),
            title,
            status: status.as_u16(),
            detail,
        }
    }

    /// The response carrying this problem, with `Retry-After` when given.
    pub fn response(&self, retry_after_secs: Option<u32>) -> Response {
        let status = StatusCode::from_u16(self.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = serde_json::to_vec(self).expect("a problem serializes");
        let mut response = (status, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
        if let Some(seconds) = retry_after_secs {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}

/// The answer to a path no route serves.
pub async fn not_found() -> Response {
    Problem::new(
        StatusCode::NOT_FOUND,
        "not-found",
        "Not found",
        "no such endpoint",
    )
    .response(None)
}
