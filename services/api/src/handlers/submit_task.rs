//! `POST /task`: accept one task.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Submission;
use crate::intake::{Accepted, Answer, Intake, TaskRequest};

/// Submit one task. Answered 202 only after JetStream stored it.
#[utoipa::path(
    post,
    path = "/task",
    tag = "tasks",
    operation_id = "submit_task",
    params(crate::openapi::SubmissionHeaders),
    request_body(content = TaskRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Accepted: JetStream stored the task", body = Accepted,
            headers(
                ("Location" = String, description = "`/task/{id}`, the task's record"),
                ("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"),
            )),
    ),
    security(("api_key" = ["tasks:write"]), ("jwt" = ["tasks:write"])),
)]
pub(crate) async fn submit_task(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    submission: Submission<TaskRequest>,
) -> Result<Answer, ApiError> {
    intake.submit_one(&principal, submission).await
}
