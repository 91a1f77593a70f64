//! `DELETE /task/{id}`: cancel a task that has not finished.

use std::sync::Arc;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;

use super::task_status::{TaskView, render};
use crate::auth::Principal;
use crate::cancel::Canceller;
use crate::error::ApiError;
use crate::headers::REQUEST_ID;

/// Cancel a queued or running task: its status becomes `cancelled` for good, a
/// running handler is stopped within seconds and its attempt is not retried, and the
/// task never runs afterwards. Another tenant's task is answered exactly as a
/// missing one.
#[utoipa::path(
    delete,
    path = "/task/{id}",
    tag = "tasks",
    operation_id = "cancel_task",
    params(("id" = String, Path, format = "uuid", description = "The id `POST /task` answered")),
    responses((status = 200, description = "Cancelled: the task's record, status `cancelled`", body = TaskView)),
    security(("api_key" = ["tasks:write"]), ("jwt" = ["tasks:write"])),
)]
pub(crate) async fn cancel_task(
    State(canceller): State<Arc<Canceller>>,
    Extension(principal): Extension<Principal>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let id = crate::extract::task_id(&id)?;
    // The router gave every request a usable id before this runs.
    let request_id = headers
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let record = canceller.cancel(&principal, id, request_id).await?;
    Ok(render(&record))
}
