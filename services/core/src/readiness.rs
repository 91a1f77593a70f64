//! The `/readyz` verdict both binaries give: NATS and Valkey checks plus draining,
//! rendered the same way so probes and dashboards read one shape.

use std::time::Duration;

use serde_json::json;

use crate::queue::Queue;
use crate::store::{Store, StoreError};

/// How long the Valkey check may take before it counts as failed.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

/// Why a dependency check failed.
#[derive(Debug, thiserror::Error)]
pub enum Unready {
    /// The NATS client is between connections.
    #[error("not connected")]
    NotConnected,
    /// The work stream does not exist yet; the worker declares it.
    #[error("work stream not found yet")]
    WorkStreamMissing,
    /// The worker has not bound its consumer yet.
    #[error("consumer not bound yet")]
    ConsumerNotBound,
    /// Valkey did not answer within the probe's bound.
    #[error("ping timed out")]
    PingTimedOut,
    /// Valkey answered with an error. The probe's answer says only that; the
    /// error itself (which can name hosts and users) goes to the log.
    #[error("error reply")]
    Store(#[source] StoreError),
}

/// One answer to `/readyz`.
#[derive(Debug)]
pub struct Readiness {
    /// The NATS check.
    pub nats: Result<(), Unready>,
    /// The Valkey check.
    pub valkey: Result<(), Unready>,
    /// Shutdown has begun: the binary refuses new work while it drains.
    pub draining: bool,
}

impl Readiness {
    /// Checks NATS (connected, then `nats_stage`: what else the binary needs from it)
    /// and Valkey, for a binary that is `draining` or not.
    pub async fn check(
        queue: &Queue,
        nats_stage: Result<(), Unready>,
        store: &Store,
        draining: bool,
    ) -> Self {
        Self {
            nats: if queue.is_connected() {
                nats_stage
            } else {
                Err(Unready::NotConnected)
            },
            valkey: check_valkey(store).await,
            draining,
        }
    }

    /// Ready when both dependencies are and the binary is not draining.
    pub fn is_ready(&self) -> bool {
        self.nats.is_ok() && self.valkey.is_ok() && !self.draining
    }

    /// `{"status":"ready"|"unavailable","checks":{"nats":..,"valkey":..}}`, with
    /// `"reason":"shutting down"` while draining.
    pub fn body(&self) -> serde_json::Value {
        let show = |check: &Result<(), Unready>| match check {
            Ok(()) => "ok".to_string(),
            Err(unready) => unready.to_string(),
        };
        let mut body = json!({
            "status": if self.is_ready() { "ready" } else { "unavailable" },
            "checks": { "nats": show(&self.nats), "valkey": show(&self.valkey) },
        });
        if self.draining {
            body["reason"] = json!("shutting down");
        }
        body
    }
}

/// Pings Valkey, bounded so a hung connection cannot hang the probe.
pub async fn check_valkey(store: &Store) -> Result<(), Unready> {
    match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => {
            tracing::warn!(error = %crate::telemetry::ErrorChain(&e), "valkey readiness check failed");
            Err(Unready::Store(e))
        }
        Err(_) => Err(Unready::PingTimedOut),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_body_never_carries_a_dependency_error_text() {
        let refusal = fred::error::Error::new(
            fred::error::ErrorKind::Auth,
            "WRONGPASS invalid username-password pair for user tasklane at valkey-0.internal",
        );
        let readiness = Readiness {
            nats: Ok(()),
            valkey: Err(Unready::Store(StoreError::Valkey(refusal))),
            draining: false,
        };
        let body = readiness.body().to_string();
        assert!(!readiness.is_ready());
        for leak in ["WRONGPASS", "tasklane", "valkey-0", "internal"] {
            assert!(!body.contains(leak), "{leak} leaked: {body}");
        }
        assert!(body.contains("error reply"), "{body}");
    }
}
