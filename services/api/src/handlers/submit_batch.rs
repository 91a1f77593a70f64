//! `POST /tasks`: accept up to `api.max_batch` tasks at once.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Submission;
use crate::intake::{Answer, BatchRequest, Intake};

/// Submit up to `api.max_batch` tasks at once, answered in request order.
#[utoipa::path(
    post,
    path = "/tasks",
    tag = "tasks",
    operation_id = "submit_batch",
    params(crate::openapi::SubmissionHeaders),
    request_body(content = BatchRequest, content_type = "application/json"),
    responses(
        (status = 202, description = "Every task accepted (or replayed from its key)", body = ref("#/components/schemas/BatchAnswer"),
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))),
        (status = 207, description = "The queue failed part-way: each task has its own answer, a problem for those not accepted", body = ref("#/components/schemas/BatchAnswer"),
            headers(("Idempotent-Replayed" = String, description = "`true` when this is the stored answer of an earlier request with the same key"))),
    ),
    security(("api_key" = ["tasks:write"]), ("jwt" = ["tasks:write"])),
)]
pub(crate) async fn submit_batch(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    submission: Submission<BatchRequest>,
) -> Result<Answer, ApiError> {
    intake.submit_many(&principal, submission).await
}
