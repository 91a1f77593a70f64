//! Holding a task while Valkey or NATS is away: the call is retried with backoff
//! while in-progress acks keep the message ours, instead of acking it or using up
//! an attempt, until the shutdown grace period is over and the task is handed back.

use std::fmt::Display;
use std::future::Future;
use std::time::Duration;

use tasklane_core::store::StoreError;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Runs a Valkey write until it succeeds, counting each failure in
/// `worker_store_errors_total`; `None` once the grace period is over.
pub async fn store_write<T, F, Fut>(state: &AppState, write: F) -> Option<T>
where
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    let store_errors = &state.metrics.store_errors;
    until_ok(&state.grace_over, || async {
        write().await.inspect_err(|_| store_errors.inc())
    })
    .await
}

/// Runs `call` until it succeeds, waiting 50 ms after the first failure and twice as
/// long after each next one, up to 2 s; `None` once `grace_over` fires.
pub async fn until_ok<T, E, F, Fut>(grace_over: &CancellationToken, call: F) -> Option<T>
where
    E: Display,
    F: Fn() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(50);
    loop {
        match call().await {
            Ok(value) => return Some(value),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "dependency unavailable; holding the task")
            }
        }
        tokio::select! {
            _ = grace_over.cancelled() => return None,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}
