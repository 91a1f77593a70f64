//! Stopping the handlers of tasks cancelled while they run.
//!
//! A task that has run for [`POLL_INTERVAL`] joins a watch list; once per interval
//! one Valkey call asks which tasks on the list are cancelled, and those are
//! stopped: their handler's future is dropped, and the delivery acknowledges the
//! message without an outcome. Polling the records is what makes a cancellation
//! reach the worker that runs the task whatever happened meanwhile (no message to
//! lose, no subscription to miss while reconnecting); shorter tasks are never
//! asked about, so the common case costs one timer per attempt and nothing in
//! Valkey. A cancellation is noticed within about two intervals.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// How often the watched tasks are asked about, and how long a task runs before it
/// is watched.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// The tasks this worker has been running for a while, each with the token that
/// stops it.
#[derive(Default)]
pub struct CancelWatch {
    watched: Mutex<Watched>,
}

#[derive(Default)]
struct Watched {
    next_key: u64,
    /// By a key of their own: a task id can be in two deliveries at once (a
    /// redelivery after an ack wait that ran out).
    tasks: HashMap<u64, (String, CancellationToken)>,
}

impl CancelWatch {
    /// Completes when task `id` is found cancelled; never before it has run for
    /// [`POLL_INTERVAL`]. Dropping the future takes the task off the watch list.
    pub async fn cancelled(&self, id: &str) {
        tokio::time::sleep(POLL_INTERVAL).await;
        let stop = CancellationToken::new();
        let key = {
            let mut watched = self.lock();
            let key = watched.next_key;
            watched.next_key += 1;
            watched.tasks.insert(key, (id.to_string(), stop.clone()));
            key
        };
        let _unwatch = Unwatch { watch: self, key };
        stop.cancelled().await
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.watched
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The watched tasks: keys and ids.
    fn snapshot(&self) -> Vec<(u64, String)> {
        self.lock()
            .tasks
            .iter()
            .map(|(key, (id, _))| (*key, id.clone()))
            .collect()
    }

    /// Stops the watched tasks with `keys` (those still watched).
    fn stop(&self, keys: impl IntoIterator<Item = u64>) {
        let watched = self.lock();
        for key in keys {
            if let Some((_, stop)) = watched.tasks.get(&key) {
                stop.cancel();
            }
        }
    }
}

/// Takes a task off the watch list when its attempt ends, however it ends.
struct Unwatch<'a> {
    watch: &'a CancelWatch,
    key: u64,
}

impl Drop for Unwatch<'_> {
    fn drop(&mut self) {
        self.watch.lock().tasks.remove(&self.key);
    }
}

/// Asks Valkey about the watched tasks once per [`POLL_INTERVAL`] and stops the
/// cancelled ones, until `stop` fires.
pub async fn poll(state: Arc<AppState>, stop: CancellationToken) {
    let mut ticks = tokio::time::interval(POLL_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = ticks.tick() => {}
        }
        let watched = state.cancel_watch.snapshot();
        if watched.is_empty() {
            continue;
        }
        let ids: Vec<&str> = watched.iter().map(|(_, id)| id.as_str()).collect();
        match state.store.cancelled_among(&ids).await {
            Ok(positions) => state.cancel_watch.stop(
                positions
                    .into_iter()
                    .filter_map(|p| watched.get(p))
                    .map(|(key, _)| *key),
            ),
            // The next tick asks again; the tasks keep running meanwhile.
            Err(e) => tracing::warn!(error = %e, "could not check running tasks for cancellation"),
        }
    }
}
