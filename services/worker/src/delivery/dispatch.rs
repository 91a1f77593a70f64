//! Runs one attempt: finds the task type's handler, bounds it by the task's timeout,
//! turns a panic into a failed attempt, gives the attempt up when the shutdown
//! grace period is over, and stops it when the task is cancelled. Observes the
//! attempt's queue wait, duration and failure.

use std::panic::AssertUnwindSafe;
use std::time::{Duration, Instant};

use futures::FutureExt;
use tasklane_core::task::now_millis;
use tasklane_tasks::{HandlerError, TaskInput};

use super::decode::Task;
use super::outcome::AttemptResult;
use crate::state::AppState;

pub async fn run_attempt(
    state: &AppState,
    task: &Task,
    attempt: u32,
    max_attempts: u32,
) -> AttemptResult {
    let task_type = task.task_type();
    let Some(handler) = state.registry.get(task_type) else {
        return AttemptResult::Failed(HandlerError::Permanent(format!(
            "task type `{task_type}` is not enabled on this worker"
        )));
    };
    let metrics = &state.metrics;
    let wait = now_millis().saturating_sub(task.published_ms) as f64 / 1000.0;
    metrics
        .queue_wait
        .with_label_values(&[task_type])
        .observe(wait);
    let timeout = task
        .envelope
        .timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(state.settings.worker.task_timeout)
        // As with attempts: the gateway refuses more, a direct publish is capped.
        .min(state.settings.limits.max_timeout);
    let input = TaskInput {
        id: &task.id,
        attempt,
        max_attempts,
        payload: &task.envelope.payload,
        timeout,
    };

    let started = Instant::now();
    let run = AssertUnwindSafe(tokio::time::timeout(timeout, handler.run(&input))).catch_unwind();
    let ended = tokio::select! {
        ended = run => ended,
        _ = state.grace_over.cancelled() => return AttemptResult::HandedBack,
        // Dropping `run` drops the handler's future wherever it is waiting.
        _ = state.cancel_watch.cancelled(&task.id) => return AttemptResult::Cancelled,
    };
    metrics
        .duration
        .with_label_values(&[task_type])
        .observe(started.elapsed().as_secs_f64());
    let failure = match ended {
        Ok(Ok(Ok(result))) => return AttemptResult::Succeeded(result),
        // Nothing was tried: not a failed attempt.
        Ok(Ok(Err(deferred @ HandlerError::Deferred { .. }))) => {
            return AttemptResult::Failed(deferred);
        }
        Ok(Ok(Err(error))) => AttemptResult::Failed(error),
        Ok(Err(_elapsed)) => AttemptResult::TimedOut(timeout),
        Err(panic) => AttemptResult::Panicked(panic_message(panic.as_ref())),
    };
    metrics.errors.with_label_values(&[task_type]).inc();
    failure
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
