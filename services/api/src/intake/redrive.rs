//! Re-driving dead tasks: the dead task's message, read back from the dead-letter
//! stream, is published again as a new task with the same type, payload, options and
//! tenant. The dead record keeps its status and the counters stay as they are; the two
//! records name each other (`redriven_to`, `redriven_from`).
//!
//! A re-drive goes through intake's idempotency machinery under a key named after the
//! dead task (in [`REDRIVE_SCOPE`], which no tenant's keys share). The claim fixes the
//! new task's id before the publish, so a gateway that dies between the claim and the
//! PubAck leaves a reservation that the next re-drive resumes: it publishes the same
//! id again, JetStream's duplicate window drops the copy, and exactly one new task
//! exists. A re-drive that completed stores its answer under the key, and the dead
//! record names the new task: a second re-drive finds either and is refused (409).

use std::collections::HashSet;

use axum::http::StatusCode;
use tasklane_core::names::REDRIVE_SCOPE;
use tasklane_core::queue::{DeadLetter, DeadLetterFilter};
use tasklane_core::store::{RedriveLink, TaskRecord};
use tasklane_core::task::{TaskEnvelope, TaskId, TaskStatus, TaskType};
use tasklane_core::telemetry::ErrorChain;

use super::idempotency::{self, Claimed};
use super::publish::Outgoing;
use super::request::ValidTask;
use super::{Accepted, IdempotencyKey, Intake, planned_now};
use crate::error::{ApiError, Cause};
use crate::headers::Origin;

/// Most dead letters one re-drive by type reads, per task it may re-drive: bounds the
/// request when most of a type's dead letters were re-driven before.
const SCAN_PER_TASK: usize = 10;

/// A bulk re-drive's result for one dead task.
pub(crate) struct Redrive {
    /// The dead task.
    pub(crate) dead: String,
    /// Its new task, or why it was not re-driven.
    pub(crate) outcome: Result<Accepted, ApiError>,
}

impl Intake {
    /// `POST /dead-letters/{id}/retry`.
    pub(crate) async fn redrive(
        &self,
        dead_id: &TaskId,
        origin: &Origin,
    ) -> Result<Accepted, ApiError> {
        let record = self.dead_record(dead_id).await?;
        let letter = self
            .queue
            .dead_letter_from(1, DeadLetterFilter::Task(dead_id))
            .await
            .map_err(|e| {
                ApiError::queue_unavailable()
                    .caused_by(Cause::new("dead letter could not be read", e).for_task(*dead_id))
            })?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "task {dead_id} is dead but its dead letter is gone (older than dlq.max_age, or written by a version before re-drive)"
                ))
            })?;
        self.redrive_letter(&record, dead_id, &letter, origin).await
    }

    /// `POST /dead-letters/retry` with `ids`: each re-driven as on its own, in order.
    pub(crate) async fn redrive_ids(&self, ids: &[TaskId], origin: &Origin) -> Vec<Redrive> {
        let mut results = Vec::with_capacity(ids.len());
        for id in ids {
            results.push(Redrive {
                dead: id.to_string(),
                outcome: self.redrive(id, origin).await,
            });
        }
        results
    }

    /// `POST /dead-letters/retry` with `type`: the oldest dead tasks of `task_type` not
    /// re-driven yet, at most `api.max_batch` of them. Those re-driven before, or whose
    /// record expired, are passed over without a result.
    pub(crate) async fn redrive_type(
        &self,
        task_type: &TaskType,
        origin: &Origin,
    ) -> Result<Vec<Redrive>, ApiError> {
        let most = self.rules.max_batch();
        let mut results: Vec<Redrive> = Vec::new();
        // A task this call re-drove that died again is newer than the call: the walk
        // ends there rather than re-drive its own re-drives.
        let mut created = HashSet::new();
        let mut next = 1;
        let mut scanned = 0;
        while results.len() < most && scanned < most * SCAN_PER_TASK {
            let letter = self
                .queue
                .dead_letter_from(next, DeadLetterFilter::Type(task_type))
                .await
                .map_err(|e| {
                    ApiError::queue_unavailable()
                        .caused_by(Cause::new("dead letters could not be read", e))
                })?;
            let Some(letter) = letter else { break };
            next = letter.sequence + 1;
            scanned += 1;
            // `dlq.*.<type>` also matches an older `dlq.<type>` subject of a dotted type.
            let Ok(dead_id) = letter.id.parse::<TaskId>() else {
                continue;
            };
            if created.contains(&dead_id) {
                break;
            }
            if letter.task_type != task_type.as_str() {
                continue;
            }
            let record = match self.dead_record(&dead_id).await {
                Ok(record) => record,
                Err(error) if error.status().is_client_error() => continue,
                Err(error) => return Err(error),
            };
            let outcome = self
                .redrive_letter(&record, &dead_id, &letter, origin)
                .await;
            if let Ok(accepted) = &outcome {
                created.insert(accepted.id());
            }
            results.push(Redrive {
                dead: letter.id.clone(),
                outcome,
            });
        }
        Ok(results)
    }

    /// The record of `dead_id` if it may be re-driven: 404 without one, 409 when it is
    /// not dead or was re-driven before.
    async fn dead_record(&self, dead_id: &TaskId) -> Result<TaskRecord, ApiError> {
        let record = self
            .store
            .get_task(dead_id)
            .await
            .map_err(|e| {
                ApiError::store_unavailable()
                    .caused_by(Cause::new("task record unavailable", e).for_task(*dead_id))
            })?
            .ok_or_else(|| {
                ApiError::not_found(format!(
                    "no task {dead_id} (unknown, or its record expired)"
                ))
            })?;
        if record.status != TaskStatus::Dead {
            return Err(ApiError::not_dead(format!(
                "task {dead_id} is {}, not dead",
                record.status.as_str()
            )));
        }
        if let Some(new) = &record.redriven_to {
            return Err(ApiError::already_redriven(format!(
                "task {dead_id} was re-driven before, as task {new}"
            )));
        }
        Ok(record)
    }

    async fn redrive_letter(
        &self,
        record: &TaskRecord,
        dead_id: &TaskId,
        letter: &DeadLetter,
        origin: &Origin,
    ) -> Result<Accepted, ApiError> {
        let envelope: TaskEnvelope = serde_json::from_slice(&letter.body).map_err(|_| {
            ApiError::not_dead(format!(
                "the dead letter of {dead_id} is not a task message; it cannot be re-driven"
            ))
        })?;
        if !self.rules.is_enabled(&envelope.task_type) {
            return Err(ApiError::validation(format!(
                "type: task type `{}` is not enabled in this deployment",
                envelope.task_type
            )));
        }
        let name = dead_id.to_string();
        let key = IdempotencyKey::parse(&name, "id", name.as_bytes())?;
        let mut claim = match self.claims.claim(REDRIVE_SCOPE, &key, planned_now()).await {
            Ok(Claimed::Fresh(claim)) => claim,
            Ok(Claimed::Replay(replay)) => {
                return Err(ApiError::already_redriven(format!(
                    "task {dead_id} was re-driven before: {}",
                    replay.body
                )));
            }
            Err(error) if error.status() == StatusCode::CONFLICT => {
                return Err(ApiError::already_redriven(format!(
                    "a re-drive of task {dead_id} is in progress"
                )));
            }
            Err(error) => return Err(error),
        };
        let task = Outgoing::new(
            ValidTask::from_envelope(envelope),
            &record.tenant,
            origin,
            claim.task(),
        );
        claim.publishing();
        if let Err(unqueued) = self.publisher.enqueue(&task).await {
            let resumed = claim.resumed();
            idempotency::let_go(Some(claim), unqueued.not_stored).await;
            return Err(unqueued.answer(resumed));
        }
        match self.store.link_redrive(dead_id, &task.id).await {
            Ok(RedriveLink::Linked) => {}
            Ok(other) => {
                tracing::warn!(task_id = %dead_id, new_task_id = %task.id, found = ?other, "re-drive published but the dead record could not be linked");
            }
            Err(e) => {
                tracing::warn!(task_id = %dead_id, new_task_id = %task.id, error = %ErrorChain(&e), "re-drive published but not linked; its stored answer still refuses a second one");
            }
        }
        let accepted = Accepted::queued(task.id);
        idempotency::complete(Some(claim), StatusCode::ACCEPTED, &accepted.body()).await;
        self.redriven.inc();
        tracing::info!(task_id = %dead_id, new_task_id = %task.id, "dead task re-driven");
        Ok(accepted)
    }
}
