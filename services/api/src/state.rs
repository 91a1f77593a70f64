//! What the handlers share. Each handler extracts only the part it uses (through
//! `FromRef`), so none of them is handed the whole gateway.

use std::sync::Arc;

use axum::extract::FromRef;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;

use crate::extract::BodyLimit;
use crate::intake::Intake;
use crate::metrics::HttpMetrics;

#[derive(Clone)]
pub(crate) struct AppState {
    intake: Arc<Intake>,
    queue: Queue,
    store: Store,
    http_metrics: HttpMetrics,
    body_limit: BodyLimit,
}

impl AppState {
    pub(crate) fn new(
        intake: Intake,
        queue: Queue,
        store: Store,
        http_metrics: HttpMetrics,
        body_limit: BodyLimit,
    ) -> Self {
        Self {
            intake: Arc::new(intake),
            queue,
            store,
            http_metrics,
            body_limit,
        }
    }
}

impl FromRef<AppState> for Arc<Intake> {
    fn from_ref(state: &AppState) -> Self {
        state.intake.clone()
    }
}

impl FromRef<AppState> for Queue {
    fn from_ref(state: &AppState) -> Self {
        state.queue.clone()
    }
}

impl FromRef<AppState> for Store {
    fn from_ref(state: &AppState) -> Self {
        state.store.clone()
    }
}

impl FromRef<AppState> for HttpMetrics {
    fn from_ref(state: &AppState) -> Self {
        state.http_metrics.clone()
    }
}

impl FromRef<AppState> for BodyLimit {
    fn from_ref(state: &AppState) -> Self {
        state.body_limit
    }
}
