//! What every handler shares.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tasklane_core::Settings;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;
use tokio_util::sync::CancellationToken;

use crate::metrics::ApiMetrics;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub settings: Settings,
    pub queue: Queue,
    pub store: Store,
    pub metrics: ApiMetrics,
    pub known_types: Vec<String>,
    /// Set once the work stream exists; until then publishing would fail.
    pub work_stream_found: AtomicBool,
    /// Cancelled when the gateway starts draining: readiness turns 503 first.
    pub shutdown: CancellationToken,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    pub fn work_stream_found(&self) -> bool {
        self.work_stream_found.load(Ordering::Acquire)
    }
}
