//! `POST /task`: accept one task.

use std::sync::Arc;

use axum::extract::State;

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::headers::{IdempotencyHeader, Origin};
use crate::intake::{Answer, Intake, Submission, TaskRequest};

pub(crate) async fn submit_task(
    State(intake): State<Arc<Intake>>,
    origin: Origin,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody { value, raw }: JsonBody<TaskRequest>,
) -> Result<Answer, ApiError> {
    let submission = Submission {
        raw: &raw,
        idempotency_key: key.as_ref(),
        origin: &origin,
    };
    intake.submit_one(value, submission).await
}
