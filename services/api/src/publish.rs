//! Enqueueing validated tasks: publish, wait for the PubAck, then write the `queued`
//! record so `GET /task/{id}` finds the task from the moment the client hears 202.

use tasklane_core::store::RecordIdentity;

use crate::error::ApiError;
use crate::state::AppState;
use crate::submission::NewTask;

pub async fn enqueue(state: &AppState, task: &NewTask) -> Result<(), ApiError> {
    let id = task.id.to_string();
    if let Err(e) = state
        .queue
        .publish(
            task.task_type.subject(),
            &id,
            task.headers.clone(),
            task.body.clone(),
        )
        .await
    {
        state.metrics.publish_errors.inc();
        tracing::warn!(task_id = %id, error = %e, "task not accepted: publish failed");
        return Err(ApiError::queue_unavailable());
    }
    let who = RecordIdentity {
        id: &id,
        task_type: task.task_type.as_str(),
        created_at: &task.created_at,
    };
    if let Err(e) = state.store.record_queued(who).await {
        // The task is durably queued and a worker writes the record when it starts;
        // refusing now would make the client enqueue it a second time.
        tracing::warn!(task_id = %id, error = %e, "queued record not written; the worker will create it");
    }
    state
        .metrics
        .submitted
        .with_label_values(&[task.task_type.as_str()])
        .inc();
    Ok(())
}
