//! `POST /tasks`: accept up to `api.max_batch` tasks at once.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Submission;
use crate::intake::{Answer, BatchRequest, Intake};

pub(crate) async fn submit_batch(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    submission: Submission<BatchRequest>,
) -> Result<Answer, ApiError> {
    intake.submit_many(&principal, submission).await
}
