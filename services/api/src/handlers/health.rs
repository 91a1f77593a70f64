//! `/readyz` for the gateway: NATS connected and the work stream declared, Valkey
//! answering, not draining. The routes themselves are the shared ops router.

use tasklane_core::ops::ReadinessCheck;
use tasklane_core::readiness::{Readiness, Unready, check_valkey};

use crate::state::AppState;

impl ReadinessCheck for AppState {
    async fn check(&self) -> Readiness {
        let nats = if !self.queue.is_connected() {
            Err(Unready::NotConnected)
        } else if !self.work_stream_found() {
            Err(Unready::WorkStreamMissing)
        } else {
            Ok(())
        };
        Readiness {
            nats,
            valkey: check_valkey(&self.store).await,
            draining: self.shutdown.is_cancelled(),
        }
    }
}
