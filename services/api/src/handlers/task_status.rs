//! `GET /task/{id}`: a task's record.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;
use tasklane_core::store::Store;
use tasklane_core::task::{TaskId, TaskStatus};

use crate::auth::Principal;
use crate::error::{ApiError, Cause};
use crate::respond;

#[derive(Serialize)]
struct TaskView<'a> {
    id: &'a str,
    #[serde(rename = "type")]
    task_type: &'a str,
    status: TaskStatus,
    attempts: u32,
    created_at: &'a str,
    updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    result: Option<&'a RawValue>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error: Option<&'a str>,
}

/// Another tenant's task is answered exactly as a missing one: the record is read
/// either way and the same 404 is built, so neither the body nor an early return
/// tells a caller that the id exists.
pub(crate) async fn task_status(
    State(store): State<Store>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id: TaskId = id.parse().map_err(|_| {
        ApiError::bad_request(format!("`{}` is not a task id (a UUID)", truncate(&id)))
    })?;
    let record = store.get_task(&id).await.map_err(|e| {
        ApiError::store_unavailable()
            .caused_by(Cause::new("task record unavailable", e).for_task(id))
    })?;
    let Some(record) = record.filter(|record| *record.tenant == *principal.tenant) else {
        return Err(ApiError::not_found(format!(
            "no task {id} (unknown, or its record expired)"
        )));
    };
    let result: Option<Box<RawValue>> = record
        .result
        .as_deref()
        .and_then(|r| RawValue::from_string(r.to_string()).ok());
    let view = TaskView {
        id: &record.id,
        task_type: &record.task_type,
        status: record.status,
        attempts: record.attempts,
        created_at: &record.created_at,
        updated_at: &record.updated_at,
        result: result.as_deref(),
        error: record.error.as_deref(),
    };
    Ok(respond::json(
        StatusCode::OK,
        serde_json::to_string(&view).expect("task view serializes"),
    ))
}

fn truncate(s: &str) -> String {
    s.chars().take(64).collect()
}
