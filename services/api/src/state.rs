//! What the handlers share. Each handler extracts only the part it uses (a `FromRef`
//! per part), so none of them is handed the whole gateway.
//!
//! axum clones the state for every request it routes and drops it after, so the
//! state is one reference count: a clone per field was measurable (a `Queue` holds
//! two NATS clients, each several reference counts and a channel sender, and its
//! stream's name as a `String`; the counts of the other fields are shared by every
//! core).

use std::sync::Arc;

use axum::extract::FromRef;
use tasklane_core::queue::Queue;
use tasklane_core::store::Store;

use crate::cancel::Canceller;
use crate::extract::BodyLimit;
use crate::handlers::stats::StatsCache;
use crate::intake::Intake;

#[derive(Clone)]
pub(crate) struct AppState(Arc<Parts>);

/// The parts, each with the `FromRef` that hands it to a handler or extractor.
macro_rules! parts {
    ($($field:ident: $part:ty),* $(,)?) => {
        struct Parts {
            $($field: $part,)*
        }
        $(
            impl FromRef<AppState> for $part {
                fn from_ref(state: &AppState) -> Self {
                    state.0.$field.clone()
                }
            }
        )*
    };
}

parts! {
    intake: Arc<Intake>,
    queue: Arc<Queue>,
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
        Self(Arc::new(Parts {
            intake: Arc::new(intake),
            queue: Arc::new(queue),
            store,
            body_limit,
            stats: Arc::default(),
            canceller: Arc::new(canceller),
        }))
    }
}
