//! What every task processing step shares.

use tasklane_core::Settings;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;
use tasklane_tasks::Registry;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;

pub struct WorkerContext {
    pub settings: Settings,
    pub queue: Queue,
    pub store: Store,
    pub registry: Registry,
    pub metrics: WorkerMetrics,
    /// Fired when the shutdown grace period is over: whatever still runs is handed
    /// back to JetStream for immediate redelivery.
    pub handback: CancellationToken,
}
