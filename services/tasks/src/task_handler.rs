//! The contract between a task type and the worker that runs it.

use std::time::Duration;

use serde_json::value::RawValue;

/// What a handler gets to see of the task.
pub struct TaskInput<'a> {
    /// The task id (a UUID v7), e.g. for logs or for idempotent side effects.
    pub id: &'a str,
    /// Which attempt this is, 1 for the first.
    pub attempt: u32,
    /// Attempts the task may use in all; after the last failed one it is
    /// dead-lettered.
    pub max_attempts: u32,
    /// The task's `payload` as the client sent it (raw JSON); see [`payload`].
    pub payload: &'a RawValue,
    /// How long this attempt may run; the worker drops it when the time is up.
    pub timeout: Duration,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth another attempt after a delay: a dependency was down, a limit was hit.
    #[error("{0}")]
    Retryable(String),
    /// Will fail however often it is tried (bad payload, impossible request): the task
    /// ends `failed` at once.
    #[error("{0}")]
    Permanent(String),
    /// Worth another attempt, and the other side said when: the next attempt waits
    /// `after` (capped by `worker.retry_max_delay`) instead of the backoff.
    #[error("{error}")]
    RetryableAfter {
        /// Why the attempt failed.
        error: String,
        /// When to try again.
        after: Duration,
    },
    /// Not attempted at all (the destination is known to be down): the attempt does
    /// not count, and the task comes back after `after` without holding a worker
    /// slot meanwhile.
    #[error("{reason}")]
    Deferred {
        /// Why nothing was tried.
        reason: String,
        /// When to come back.
        after: Duration,
    },
}

/// What one attempt returns: the result as raw JSON, or why it failed.
pub type HandlerResult = Result<Box<RawValue>, HandlerError>;

/// A task type: runs the tasks whose `type` is [`name`](TaskHandler::name).
///
/// The worker calls [`run`](TaskHandler::run) once per attempt and takes care of the
/// rest: the attempt count, the per-task timeout, catching panics, retries with
/// backoff, dead letters and storing the result. What it asks of a handler:
/// - **Re-runs are normal.** Delivery is at least once: an attempt can run again after
///   a crash, or on another worker after a shutdown cut it short. Side effects must
///   tolerate that (use [`TaskInput::id`] as an idempotency key where it matters).
/// - **Stop at any await.** At the timeout, or when a shutdown's grace period is over,
///   the worker drops the future wherever it is.
/// - **Do not block the thread.** Runs are async; CPU-heavy or blocking work belongs
///   in `tokio::task::spawn_blocking`. The worker's in-progress acks share the thread:
///   a task that blocks it for longer than `ack_wait` is redelivered elsewhere.
#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// The task type this handler runs. It is what clients put in `type`, so it must
    /// match `^[a-z0-9][a-z0-9_.-]{0,63}$` and be unique among the registered types.
    fn name(&self) -> &'static str;

    /// Runs one attempt and returns the result as JSON, or a [`HandlerError`] saying
    /// whether another attempt could succeed.
    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult;

    /// Checks a payload when the task is submitted, so a task that can never run is
    /// refused with 422 instead of failing later. The error names the field, starting
    /// with `payload` (e.g. `payload.url: must be http or https`). Accepts everything
    /// unless a type says otherwise.
    fn check(&self, _payload: &RawValue) -> Result<(), String> {
        Ok(())
    }
}

/// Parses a payload into `T`, turning a mismatch into a permanent failure that says
/// which field is wrong.
pub fn payload<T: serde::de::DeserializeOwned>(raw: &RawValue) -> Result<T, HandlerError> {
    serde_json::from_str(raw.get())
        .map_err(|e| HandlerError::Permanent(format!("invalid payload: {e}")))
}

/// Serializes a result.
pub fn result<T: serde::Serialize>(value: &T) -> HandlerResult {
    serde_json::value::to_raw_value(value)
        .map_err(|e| HandlerError::Permanent(format!("result could not be encoded: {e}")))
}
