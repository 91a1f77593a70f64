//! What the handlers share. Each handler extracts only the part it uses (the derived
//! `FromRef`), so none of them is handed the whole gateway.

use std::sync::Arc;

use axum::extract::FromRef;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;

use crate::cancel::Canceller;
use crate::extract::BodyLimit;
use crate::handlers::stats::StatsCache;
use crate::intake::Intake;

#[derive(Clone, FromRef)]
pub(crate) struct AppState {
    intake: Arc<Intake>,
    queue: Queue,
    store: Store,
    body_limit: BodyLimit,
    stats: Arc<StatsCache>,
    canceller: Arc<Canceller>,
}

impl AppState {
    pub(crate) fn new(
        intake: Intake,
        canceller: Canceller,
        queue: Queue,
        store: Store,
        body_limit: BodyLimit,
    ) -> Self {
        Self {
            intake: Arc::new(intake),
            queue,
            store,
            body_limit,
            stats: Arc::default(),
            canceller: Arc::new(canceller),
        }
    }
}
