//! What the worker's parts share: its settings, the NATS and Valkey handles, the
//! task types it runs, its metrics, and the signal that the shutdown grace period
//! is over. The gateway's counterpart is `tasklane_api::state::AppState`.

use tasklane_core::Settings;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;
use tasklane_tasks::Registry;
use tokio_util::sync::CancellationToken;

use crate::cancellation::CancelWatch;
use crate::metrics::WorkerMetrics;

pub struct AppState {
    pub settings: Settings,
    pub queue: Queue,
    pub store: Store,
    pub registry: Registry,
    pub metrics: WorkerMetrics,
    /// Fired when the shutdown grace period is over: tasks still running, or waiting
    /// for Valkey or NATS, are handed back to JetStream for immediate redelivery.
    pub grace_over: CancellationToken,
    /// The tasks that have run for a while, checked for cancellation.
    pub cancel_watch: CancelWatch,
}
