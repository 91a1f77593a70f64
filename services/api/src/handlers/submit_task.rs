//! `POST /task`: accept one task.

use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::Response;

use super::{
    idempotency_header, json_response, location_of, replay_response, request_id, trace_context,
};
use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::idempotency::{self, Claim};
use crate::publish::enqueue;
use crate::state::AppState;
use crate::submission::{IdempotencyKey, Rules, TaskRequest, canonical_json};

pub async fn submit_task(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: JsonBody<TaskRequest>,
) -> Result<Response, ApiError> {
    let JsonBody {
        value: request,
        raw,
    } = body;
    if request.idempotency_key.is_some() {
        return Err(ApiError::validation(
            "idempotency_key: not allowed on POST /task; send the Idempotency-Key header",
        ));
    }
    request.validate(
        "",
        &Rules {
            known_types: &state.known_types,
        },
    )?;
    let idempotency = idempotency_header(&headers)?
        .map(|key| IdempotencyKey::parse(key, "Idempotency-Key", &canonical_json(&raw)))
        .transpose()?;
    if let Some(key) = &idempotency {
        if let Claim::Replay { status, body } = idempotency::claim(&state, key).await? {
            return Ok(replay_response(status, body));
        }
    }

    let trace = trace_context(&headers);
    let task = request.into_new_task(idempotency, request_id(&headers), &trace);
    if let Err(error) = enqueue(&state, &task).await {
        if let Some(key) = &task.idempotency {
            idempotency::release(&state, key).await;
        }
        return Err(error);
    }

    let id = task.id.to_string();
    let body = format!(r#"{{"id":"{id}","status":"queued"}}"#);
    if let Some(key) = &task.idempotency {
        idempotency::complete(&state, key, StatusCode::ACCEPTED.as_u16(), &body).await;
    }
    tracing::debug!(task_id = %id, task_type = %task.task_type, "task accepted");
    let mut response = json_response(StatusCode::ACCEPTED, body);
    if let Ok(location) = HeaderValue::from_str(&location_of(&id)) {
        response.headers_mut().insert(header::LOCATION, location);
    }
    Ok(response)
}
