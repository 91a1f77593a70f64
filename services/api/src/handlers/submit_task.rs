//! `POST /task`: accept one task.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;

use crate::auth::Principal;
use crate::error::ApiError;
use crate::extract::Submission;
use crate::intake::{Answer, Intake, TaskRequest};

pub(crate) async fn submit_task(
    State(intake): State<Arc<Intake>>,
    Extension(principal): Extension<Principal>,
    submission: Submission<TaskRequest>,
) -> Result<Answer, ApiError> {
    intake.submit_one(&principal, submission).await
}
