//! Enqueueing validated tasks: publish, wait for the PubAck, then write the `queued`
//! record so `GET /task/{id}` finds the task from the moment the client hears 202.
//! A failed publish says whether the task certainly was not stored ([`Unqueued`]),
//! which decides whether its idempotency key may be freed.

use prometheus::{IntCounter, IntCounterVec};
use tasklane_core::queue::{Queue, QueueError, TaskMessage};
use tasklane_core::store::{PlannedTask, QueuedRecord, RecordIdentity, Store};
use tasklane_core::task::{TaskId, TaskType, rfc3339_millis_rounded_up};
use tasklane_core::telemetry::ErrorChain;

use super::request::ValidTask;
use super::start::accepted_at;
use crate::error::{ApiError, Cause};
use crate::headers::Origin;
use crate::metrics::IntakeMetrics;

/// A validated task with its id fixed, and the message that carries it.
pub(crate) struct Outgoing {
    pub(crate) id: TaskId,
    pub(crate) task_type: TaskType,
    created_at: String,
    tenant: String,
    /// When a task given a start time may start (RFC 3339 UTC), as its record shows.
    run_at: Option<String>,
    message: TaskMessage,
}

impl Outgoing {
    /// `task` of `tenant` under the id and creation time `planned` for it.
    pub(crate) fn new(
        task: ValidTask,
        tenant: &str,
        origin: &Origin,
        planned: &PlannedTask,
    ) -> Self {
        // From the planned creation time, not from now: a retry that resumes an
        // earlier request's task names the same time as its first publish did.
        let run_at = task.start.run_at(accepted_at(&planned.created_at));
        let envelope = task.into_envelope(planned);
        let mut message = TaskMessage::new(
            &envelope,
            tenant,
            &origin.trace,
            origin.request_id.as_deref(),
        );
        // Every task given a time goes through the schedule stream, even one already
        // due: a retry of the request must publish to the same stream, where the
        // duplicate window drops it, whenever it comes.
        if let Some(at) = run_at {
            message = message.scheduled(at, &envelope.task_type);
        }
        Self {
            id: envelope.id,
            task_type: envelope.task_type,
            created_at: envelope.created_at,
            tenant: tenant.to_string(),
            run_at: run_at.map(rfc3339_millis_rounded_up),
            message,
        }
    }

    fn record<'a>(&'a self, id: &'a str) -> QueuedRecord<'a> {
        QueuedRecord {
            task: RecordIdentity {
                id,
                task_type: self.task_type.as_str(),
                created_at: &self.created_at,
                tenant: &self.tenant,
            },
            run_at: self.run_at.as_deref(),
        }
    }
}

/// A task that was not acknowledged by JetStream.
pub(crate) struct Unqueued {
    /// The answer for the client: `queue-unavailable` when the task certainly was not
    /// stored, `publish-unconfirmed` when it may have been.
    pub(crate) error: ApiError,
    /// Whether JetStream certainly did not store it (see
    /// [`tasklane_core::queue::QueueError::publish_not_stored`]).
    pub(crate) not_stored: bool,
}

impl Unqueued {
    /// The answer for the client. When the request's key resumed an earlier request
    /// (`resumed`), that request's publish may have been stored, so even a certain
    /// refusal now is answered as unconfirmed.
    pub(crate) fn answer(mut self, resumed: bool) -> ApiError {
        if !(resumed && self.not_stored) {
            return self.error;
        }
        self.error
            .take_causes()
            .into_iter()
            .fold(ApiError::publish_unconfirmed(), ApiError::caused_by)
    }
}

/// Publishes tasks and writes their `queued` records.
pub(crate) struct Publisher {
    queue: Queue,
    store: Store,
    submitted: IntCounterVec,
    scheduled: IntCounterVec,
    publish_errors: IntCounter,
}

impl Publisher {
    pub(crate) fn new(queue: Queue, store: Store, metrics: &IntakeMetrics) -> Self {
        Self {
            queue,
            store,
            submitted: metrics.submitted.clone(),
            scheduled: metrics.scheduled.clone(),
            publish_errors: metrics.publish_errors.clone(),
        }
    }

    /// Publishes `task`; 503 when JetStream did not acknowledge it.
    pub(crate) async fn enqueue(&self, task: &Outgoing) -> Result<(), Unqueued> {
        self.publish(task).await?;
        let id = task.id.to_string();
        if let Err(e) = self.store.record_queued(task.record(&id)).await {
            // The task is durably queued and a worker writes the record when it starts;
            // refusing now would make the client enqueue it a second time.
            tracing::warn!(task_id = %task.id, error = %ErrorChain(&e), "queued record not written; the worker will create it");
        }
        self.count_submitted(std::iter::once(task));
        Ok(())
    }

    /// [`Publisher::enqueue`] for a batch: the publishes run concurrently, then the
    /// records of all that were acknowledged are written in one Valkey call rather
    /// than one per task. The outcomes are in the order of `tasks`.
    pub(crate) async fn enqueue_many(&self, tasks: &[&Outgoing]) -> Vec<Result<(), Unqueued>> {
        let outcomes = futures::future::join_all(tasks.iter().map(|task| self.publish(task))).await;
        let accepted: Vec<&Outgoing> = tasks
            .iter()
            .zip(&outcomes)
            .filter(|(_, outcome)| outcome.is_ok())
            .map(|(task, _)| *task)
            .collect();
        if !accepted.is_empty() {
            let ids: Vec<String> = accepted.iter().map(|t| t.id.to_string()).collect();
            let records: Vec<QueuedRecord<'_>> = accepted
                .iter()
                .zip(&ids)
                .map(|(task, id)| task.record(id))
                .collect();
            if let Err(e) = self.store.record_queued_many(&records).await {
                // As in `enqueue`: the tasks are queued; workers create the records.
                tracing::warn!(tasks = accepted.len(), error = %ErrorChain(&e), "queued records not written; the workers will create them");
            }
            self.count_submitted(accepted.iter().copied());
        }
        outcomes
    }

    async fn publish(&self, task: &Outgoing) -> Result<(), Unqueued> {
        self.queue.publish_task(&task.message).await.map_err(|e| {
            let not_stored = e.publish_not_stored();
            let (error, what) = match &e {
                QueueError::Full(_) => (ApiError::queue_full(), "task not accepted: queue full"),
                QueueError::TooLarge { max, .. } => (
                    ApiError::task_too_large(*max),
                    "task not accepted: too large",
                ),
                QueueError::TooLargeForServer(_) => (
                    ApiError::task_too_large(self.queue.max_payload().unwrap_or_default()),
                    "task not accepted: too large",
                ),
                _ if not_stored => {
                    self.publish_errors.inc();
                    (
                        ApiError::queue_unavailable(),
                        "task not accepted: publish failed",
                    )
                }
                _ => {
                    self.publish_errors.inc();
                    (ApiError::publish_unconfirmed(), "task publish unconfirmed")
                }
            };
            Unqueued {
                error: error.caused_by(Cause::new(what, e).for_task(task.id)),
                not_stored,
            }
        })
    }

    /// One counter update per task type rather than per task: a label lookup takes the
    /// metric family's lock and hashes the label. Tasks published as schedules are
    /// also counted in `api_tasks_scheduled_total`.
    fn count_submitted<'a>(&self, tasks: impl Iterator<Item = &'a Outgoing>) {
        let mut per_type: Vec<(&str, u64, u64)> = Vec::new();
        for task in tasks {
            let task_type = task.task_type.as_str();
            let scheduled = u64::from(task.message.run_at().is_some());
            match per_type.iter_mut().find(|(t, _, _)| *t == task_type) {
                Some((_, n, delayed)) => {
                    *n += 1;
                    *delayed += scheduled;
                }
                None => per_type.push((task_type, 1, scheduled)),
            }
        }
        for (task_type, n, delayed) in per_type {
            self.submitted.with_label_values(&[task_type]).inc_by(n);
            if delayed > 0 {
                self.scheduled
                    .with_label_values(&[task_type])
                    .inc_by(delayed);
            }
        }
    }
}
