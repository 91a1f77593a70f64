//! `POST /tasks`: accept up to `api.max_batch` tasks at once.

use std::sync::Arc;

use axum::extract::State;

use crate::error::ApiError;
use crate::extract::JsonBody;
use crate::headers::{IdempotencyHeader, Origin};
use crate::intake::{Answer, BatchRequest, Intake, Submission};

pub(crate) async fn submit_batch(
    State(intake): State<Arc<Intake>>,
    origin: Origin,
    IdempotencyHeader(key): IdempotencyHeader,
    JsonBody { value, raw }: JsonBody<BatchRequest>,
) -> Result<Answer, ApiError> {
    let submission = Submission {
        raw: &raw,
        idempotency_key: key.as_ref(),
        origin: &origin,
    };
    intake.submit_many(value, submission).await
}
