//! Enqueueing validated tasks: publish, wait for the PubAck, then write the `queued`
//! record so `GET /task/{id}` finds the task from the moment the client hears 202.

use tasklane_core::store::RecordIdentity;

use crate::error::ApiError;
use crate::state::AppState;
use crate::submission::NewTask;

pub async fn enqueue(state: &AppState, task: &NewTask) -> Result<(), ApiError> {
    publish(state, task).await?;
    let id = task.id.to_string();
    let who = RecordIdentity {
        id: &id,
        task_type: task.task_type.as_str(),
        created_at: &task.created_at,
    };
    if let Err(e) = state.store.record_queued(who).await {
        // The task is durably queued and a worker writes the record when it starts;
        // refusing now would make the client enqueue it a second time.
        tracing::warn!(task_id = %task.id, error = %e, "queued record not written; the worker will create it");
    }
    count_submitted(state, std::iter::once(task));
    Ok(())
}

/// [`enqueue`] for a batch: the publishes run concurrently, then the records of all
/// that were acknowledged are written in one Valkey call rather than one per task.
/// The outcomes are in the order of `tasks`.
pub async fn enqueue_many(state: &AppState, tasks: &[&NewTask]) -> Vec<Result<(), ApiError>> {
    let outcomes = futures::future::join_all(tasks.iter().map(|task| publish(state, task))).await;
    let accepted: Vec<&NewTask> = tasks
        .iter()
        .zip(&outcomes)
        .filter(|(_, outcome)| outcome.is_ok())
        .map(|(task, _)| *task)
        .collect();
    if !accepted.is_empty() {
        let ids: Vec<String> = accepted.iter().map(|t| t.id.to_string()).collect();
        let records: Vec<RecordIdentity<'_>> = accepted
            .iter()
            .zip(&ids)
            .map(|(task, id)| RecordIdentity {
                id,
                task_type: task.task_type.as_str(),
                created_at: &task.created_at,
            })
            .collect();
        if let Err(e) = state.store.record_queued_many(&records).await {
            // As in `enqueue`: the tasks are queued; workers create the records.
            tracing::warn!(tasks = accepted.len(), error = %e, "queued records not written; the workers will create them");
        }
        count_submitted(state, accepted.iter().copied());
    }
    outcomes
}

/// Publishes and waits for the PubAck; 503 when JetStream did not acknowledge.
async fn publish(state: &AppState, task: &NewTask) -> Result<(), ApiError> {
    let id = task.id.to_string();
    if let Err(e) = state
        .queue
        .publish(
            task.task_type.subject(),
            &id,
            task.message_headers(),
            task.body.clone(),
        )
        .await
    {
        state.metrics.publish_errors.inc();
        tracing::warn!(task_id = %id, error = %e, "task not accepted: publish failed");
        return Err(ApiError::queue_unavailable());
    }
    Ok(())
}

/// One counter update per task type rather than per task: a label lookup takes the
/// metric family's lock and hashes the label.
fn count_submitted<'a>(state: &AppState, tasks: impl Iterator<Item = &'a NewTask>) {
    let mut per_type: Vec<(&str, u64)> = Vec::new();
    for task in tasks {
        let task_type = task.task_type.as_str();
        match per_type.iter_mut().find(|(t, _)| *t == task_type) {
            Some((_, n)) => *n += 1,
            None => per_type.push((task_type, 1)),
        }
    }
    for (task_type, n) in per_type {
        state
            .metrics
            .submitted
            .with_label_values(&[task_type])
            .inc_by(n);
    }
}
