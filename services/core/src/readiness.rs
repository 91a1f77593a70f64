//! The `/readyz` verdict both binaries give: NATS and Valkey checks plus draining,
//! rendered the same way so probes and dashboards read one shape.

use std::time::Duration;

use serde_json::json;

use crate::store::Store;

/// How long the Valkey check may take before it counts as failed.
const PING_TIMEOUT: Duration = Duration::from_secs(1);

pub struct Readiness {
    pub nats: Result<(), String>,
    pub valkey: Result<(), String>,
    pub draining: bool,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.nats.is_ok() && self.valkey.is_ok() && !self.draining
    }

    /// `{"status":"ready"|"unavailable","checks":{"nats":..,"valkey":..}}`, with
    /// `"reason":"shutting down"` while draining.
    pub fn body(&self) -> String {
        let show = |r: &Result<(), String>| r.clone().err().unwrap_or_else(|| "ok".into());
        let mut body = json!({
            "status": if self.is_ready() { "ready" } else { "unavailable" },
            "checks": { "nats": show(&self.nats), "valkey": show(&self.valkey) },
        });
        if self.draining {
            body["reason"] = json!("shutting down");
        }
        body.to_string()
    }
}

/// Pings Valkey, bounded so a hung connection cannot hang the probe.
pub async fn check_valkey(store: &Store) -> Result<(), String> {
    match tokio::time::timeout(PING_TIMEOUT, store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("ping timed out".to_string()),
    }
}
