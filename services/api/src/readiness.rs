//! When the gateway is ready: NATS connected and the work stream declared (by a
//! worker; the gateway never declares it), Valkey answering, not draining.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use tasklane_core::ops::ReadinessCheck;
use tasklane_core::queue::Queue;
use tasklane_core::readiness::{Readiness, Unready};
use tasklane_core::store::Store;
use tasklane_core::telemetry::ErrorChain;
use tokio_util::sync::CancellationToken;

/// Longest pause between two checks for the work stream while it is missing.
const MAX_STREAM_CHECK_INTERVAL: Duration = Duration::from_secs(2);

#[derive(Clone)]
pub(crate) struct GatewayReadiness {
    queue: Queue,
    store: Store,
    /// Set once the work stream exists; until then publishing would fail.
    work_stream_found: Arc<AtomicBool>,
    /// Cancelled when the gateway starts draining: readiness turns 503 first.
    shutdown: CancellationToken,
}

impl GatewayReadiness {
    pub(crate) fn new(queue: Queue, store: Store, shutdown: CancellationToken) -> Self {
        Self {
            queue,
            store,
            work_stream_found: Arc::new(AtomicBool::new(false)),
            shutdown,
        }
    }

    /// Waits until the work stream exists, checking with a growing pause, then marks
    /// the gateway able to publish. Until then it reports not-ready rather than
    /// accept tasks it could not publish.
    pub(crate) async fn await_work_stream(self) {
        let mut delay = Duration::from_millis(100);
        loop {
            match self.queue.work_stream_exists().await {
                Ok(true) => {
                    self.work_stream_found.store(true, Ordering::Release);
                    tracing::info!(stream = self.queue.stream_name(), "work stream found");
                    return;
                }
                Ok(false) => tracing::info!(
                    stream = self.queue.stream_name(),
                    retry_in = ?delay,
                    "work stream not declared yet; a worker declares it on start"
                ),
                Err(e) => tracing::warn!(
                    error = %ErrorChain(&e),
                    retry_in = ?delay,
                    "work stream check failed; retrying"
                ),
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return,
                _ = tokio::time::sleep(delay) => {}
            }
            delay = (delay * 2).min(MAX_STREAM_CHECK_INTERVAL);
        }
    }
}

impl ReadinessCheck for GatewayReadiness {
    async fn check(&self) -> Readiness {
        let work_stream = match self.work_stream_found.load(Ordering::Acquire) {
            true => Ok(()),
            false => Err(Unready::WorkStreamMissing),
        };
        let draining = self.shutdown.is_cancelled();
        Readiness::check(&self.queue, work_stream, &self.store, draining).await
    }
}
