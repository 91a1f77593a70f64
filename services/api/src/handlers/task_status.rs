//! `GET /task/{id}`: a task's record.

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use serde_json::value::RawValue;
use tasklane_core::store::{Store, TaskRecord};
use tasklane_core::task::TaskStatus;

use crate::auth::Principal;
use crate::error::{ApiError, Cause};
use crate::respond;

/// A task's record.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = TaskRecord)]
pub(crate) struct TaskView<'a> {
    #[schema(value_type = String, format = "uuid")]
    id: &'a str,
    /// The task type.
    #[serde(rename = "type")]
    #[schema(value_type = String)]
    task_type: &'a str,
    #[schema(schema_with = crate::openapi::task_status_schema)]
    status: TaskStatus,
    /// Attempts started so far.
    attempts: u32,
    /// When the gateway accepted it (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    created_at: &'a str,
    /// When its status last changed (RFC 3339, UTC).
    #[schema(value_type = String, format = DateTime)]
    updated_at: &'a str,
    /// The handler's result (any JSON), once `succeeded`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = serde_json::Value, required = false)]
    result: Option<&'a RawValue>,
    /// Why the last attempt failed, once `failed` or `dead` (and on a cancelled task
    /// whose attempt had failed before).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, required = false)]
    error: Option<&'a str>,
    /// The dead task this one re-drives.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = "uuid", required = false)]
    redriven_from: Option<&'a str>,
    /// The task this dead one was re-driven as (it stays `dead`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = "uuid", required = false)]
    redriven_to: Option<&'a str>,
    /// For a task submitted with `delay_ms` or `run_at`: the earliest time it may
    /// start (RFC 3339, UTC). It stays `queued` until then.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = String, format = DateTime, required = false)]
    run_at: Option<&'a str>,
}

/// Another tenant's task is answered exactly as a missing one: the record is read
/// either way and the same 404 is built, so neither the body nor an early return
/// tells a caller that the id exists.
#[utoipa::path(
    get,
    path = "/task/{id}",
    tag = "tasks",
    operation_id = "task_status",
    params(("id" = String, Path, format = "uuid", description = "The id `POST /task` answered")),
    responses((status = 200, description = "The task's record", body = TaskView)),
    security(("api_key" = ["tasks:read"]), ("jwt" = ["tasks:read"])),
)]
pub(crate) async fn task_status(
    State(store): State<Store>,
    Extension(principal): Extension<Principal>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = crate::extract::task_id(&id)?;
    let record = store.get_task(&id).await.map_err(|e| {
        ApiError::store_unavailable()
            .caused_by(Cause::new("task record unavailable", e).for_task(id))
    })?;
    let Some(record) = record.filter(|record| *record.tenant == *principal.tenant) else {
        return Err(ApiError::task_not_found(id));
    };
    Ok(render(&record))
}

/// A record as the API shows it.
pub(crate) fn render(record: &TaskRecord) -> Response {
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
        redriven_from: record.redriven_from.as_deref(),
        redriven_to: record.redriven_to.as_deref(),
        run_at: record.run_at.as_deref(),
    };
    respond::json(
        StatusCode::OK,
        serde_json::to_string(&view).expect("task view serializes"),
    )
}
