//! Reading a JSON request body in the order the error statuses demand: content type
//! (415), size (413), syntax (400), then shape (422 naming the field); and a task
//! submission, which is such a body plus the headers that travel with it.

use axum::body::Body;
use axum::extract::{FromRef, FromRequest, Request};
use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue, header};
use bytes::Bytes;
use serde::de::DeserializeOwned;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ApiError;
use crate::headers::{IDEMPOTENCY_KEY, Origin};

/// A task id from a path segment; 400 quoting what was sent (its first 64
/// characters) when it is not one.
pub(crate) fn task_id(text: &str) -> Result<tasklane_core::task::TaskId, ApiError> {
    text.parse().map_err(|_| {
        let shown: String = text.chars().take(64).collect();
        ApiError::bad_request(format!("`{shown}` is not a task id (a UUID)"))
    })
}

/// Largest request body read (`api.max_body_bytes`), and the bytes all bodies being
/// read or handled may hold together (`api.max_in_flight_body_bytes`).
#[derive(Debug, Clone)]
pub(crate) struct BodyLimit {
    pub(crate) max: usize,
    budget: Arc<Semaphore>,
}

impl BodyLimit {
    pub(crate) fn new(max_body_bytes: usize, max_in_flight_body_bytes: usize) -> Self {
        Self {
            max: max_body_bytes,
            budget: Arc::new(Semaphore::new(max_in_flight_body_bytes)),
        }
    }

    /// Reserves what the body may take before a byte is read: its Content-Length, or
    /// the limit when the client does not say. Refused when the budget is spent, so
    /// many slow bodies cannot hold more memory than the budget between them.
    fn reserve(&self, headers: &HeaderMap) -> Result<OwnedSemaphorePermit, ApiError> {
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse::<u64>().ok());
        let bytes = match declared {
            Some(n) if n > self.max as u64 => return Err(ApiError::payload_too_large(self.max)),
            Some(n) => n as u32,
            None => self.max as u32,
        };
        self.budget
            .clone()
            .try_acquire_many_owned(bytes)
            .map_err(|_| ApiError::body_budget_spent())
    }
}

/// A task submission as it arrives: the body parsed as `T` with its raw bytes, the
/// `Idempotency-Key` header as sent (intake checks it against the body), and where
/// the request came from.
pub(crate) struct Submission<T> {
    pub(crate) body: T,
    pub(crate) raw: Bytes,
    pub(crate) idempotency_key: Option<HeaderValue>,
    pub(crate) origin: Origin,
    /// The body's share of the budget, given back when the submission is done.
    pub(crate) reserved: OwnedSemaphorePermit,
}

impl<S, T> FromRequest<S> for Submission<T>
where
    BodyLimit: FromRef<S>,
    S: Send + Sync,
    T: DeserializeOwned,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        let origin = Origin::of(req.headers());
        let idempotency_key = req.headers().get(IDEMPOTENCY_KEY).cloned();
        let limit = BodyLimit::from_ref(state);
        if !is_json(req.headers()) {
            return Err(ApiError::unsupported_media_type());
        }
        let reserved = limit.reserve(req.headers())?;
        let raw = read_limited(req.into_body(), limit.max).await?;
        let body = parse_json(&raw)?;
        Ok(Self {
            body,
            raw,
            idempotency_key,
            origin,
            reserved,
        })
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    let Some(content_type) = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

async fn read_limited(body: Body, limit: usize) -> Result<Bytes, ApiError> {
    // to_bytes stops reading at the limit, so an endless or lying body cannot make the
    // gateway buffer more than `limit` bytes.
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let inner = e.into_inner();
        if inner.is::<http_body_util::LengthLimitError>() {
            ApiError::payload_too_large(limit)
        } else {
            ApiError::bad_request("the request body could not be read")
        }
    })
}

/// Parses `raw` as `T`. Syntax errors are 400; well-formed JSON of the wrong shape is
/// 422 with the JSON path of the offending field.
fn parse_json<T: DeserializeOwned>(raw: &[u8]) -> Result<T, ApiError> {
    parse_json_at(raw, "")
}

/// Like [`parse_json`], for a value nested at `prefix` (e.g. `tasks[3]`) of the body.
pub(crate) fn parse_json_at<T: DeserializeOwned>(raw: &[u8], prefix: &str) -> Result<T, ApiError> {
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed_json(
            "the request body is empty; send a JSON object",
        ));
    }
    // serde reads a struct from a JSON array too (fields by position); the contract
    // only has objects, so anything else is refused before it can be misread.
    let first = raw.iter().find(|b| !b.is_ascii_whitespace());
    if first != Some(&b'{') {
        let what = if prefix.is_empty() {
            "the body"
        } else {
            prefix
        };
        return Err(match serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
            Ok(_) => ApiError::validation(format!("{what}: must be a JSON object")),
            Err(e) => ApiError::malformed_json(format!("the body is not valid JSON: {e}")),
        });
    }
    let mut deserializer = serde_json::Deserializer::from_slice(raw);
    let value = match serde_path_to_error::deserialize(&mut deserializer) {
        Ok(value) => value,
        // A shape error can come before a syntax error further on ("unknown field"
        // in a body that is cut short): a body that is not JSON is 400 whatever
        // else is wrong. Checked only on this path, so valid bodies are read once.
        Err(error) => match serde_json::from_slice::<serde::de::IgnoredAny>(raw) {
            Err(syntax) if !syntax.is_data() => {
                return Err(ApiError::malformed_json(format!(
                    "the body is not valid JSON: {syntax}"
                )));
            }
            _ => return Err(describe(error, prefix)),
        },
    };
    deserializer.end().map_err(|e| {
        ApiError::malformed_json(format!("unexpected data after the JSON value: {e}"))
    })?;
    Ok(value)
}

fn describe(error: serde_path_to_error::Error<serde_json::Error>, prefix: &str) -> ApiError {
    let path = match (prefix, error.path().to_string()) {
        ("", path) => path,
        (prefix, path) if path == "." => prefix.to_string(),
        (prefix, path) => format!("{prefix}.{path}"),
    };
    let inner = error.into_inner();
    use serde_json::error::Category;
    match inner.classify() {
        Category::Data => {
            let message = strip_position(&inner.to_string());
            if path == "." {
                ApiError::validation(message)
            } else {
                ApiError::validation(format!("{path}: {message}"))
            }
        }
        Category::Syntax | Category::Eof | Category::Io => {
            ApiError::malformed_json(format!("the body is not valid JSON: {}", inner))
        }
    }
}

/// serde_json appends "at line 1 column 42" to data errors; the field path already
/// says where, and the position of a re-encoded body would only confuse.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_string(),
        None => message.to_string(),
    }
}
