//! Turning intake's answers into responses: status, JSON body, `Location` for an
//! accepted task, `Idempotent-Replayed` for a replay.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::error::Causes;
use crate::headers::IDEMPOTENT_REPLAYED;
use crate::intake::{Answer, Replay};

/// A JSON body with its status.
pub(crate) fn json(status: StatusCode, body: String) -> Response {
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

impl IntoResponse for Answer {
    fn into_response(self) -> Response {
        match self {
            Answer::Accepted(accepted) => {
                let mut response = json(StatusCode::ACCEPTED, accepted.body());
                set_location(&mut response, &accepted.id().to_string());
                response
            }
            Answer::Batch {
                status,
                body,
                causes,
            } => {
                let mut response = json(status, body);
                if !causes.is_empty() {
                    response.extensions_mut().insert(Causes(causes));
                }
                response
            }
            Answer::Replayed(replay) => replayed(replay),
        }
    }
}

/// The stored answer of an earlier request with the same Idempotency-Key; a replayed
/// 202 for one task points at the task again.
fn replayed(Replay { status, body }: Replay) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED);
    let task_id = (status == StatusCode::ACCEPTED)
        .then(|| serde_json::from_str::<serde_json::Value>(&body).ok())
        .flatten()
        .and_then(|v| v.get("id").and_then(|id| id.as_str()).map(str::to_string));
    let mut response = json(status, body);
    response
        .headers_mut()
        .insert(IDEMPOTENT_REPLAYED, HeaderValue::from_static("true"));
    if let Some(id) = task_id {
        set_location(&mut response, &id);
    }
    response
}

/// `Location: /task/{id}`.
fn set_location(response: &mut Response, id: &str) {
    if let Ok(location) = HeaderValue::from_str(&format!("/task/{id}")) {
        response.headers_mut().insert(header::LOCATION, location);
    }
}
