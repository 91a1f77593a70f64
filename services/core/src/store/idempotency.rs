//! Idempotency keys: a request reserves its key before it publishes, and either stores
//! its answer under the key (so a retry is answered the same) or frees the key (so a
//! retry may try again). The reservation is a [`Claim`] that frees the key by itself
//! when it is dropped before anything could have been published.
//!
//! Stored values: `P|<body hash>` while the request is in flight,
//! `D|<body hash>|<status>|<body>` once it is answered.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};
use tracing::Instrument;

use super::error::StoreError;
use crate::names::keys;

/// What reserving an idempotency key found.
#[derive(Debug)]
pub enum IdempotencyState {
    /// The key was free and is now held by this request.
    Reserved(Claim),
    /// Another request with this key is still being handled.
    InFlight {
        /// Hash of that request's canonical body.
        body_hash: String,
    },
    /// A request with this key completed; its answer is stored.
    Completed {
        /// Hash of that request's canonical body.
        body_hash: String,
        /// The HTTP status it was answered with.
        status: u16,
        /// The body it was answered with.
        body: String,
    },
}

/// An idempotency key held by the request that reserved it.
///
/// Dropped before [`Claim::publishing`], it frees the key in the background: nothing
/// was published, so a retry must be free to go ahead. Dropped after it, it leaves
/// the reservation to lapse on its own: the publish may have reached JetStream, and
/// a retry that got in now would enqueue the task a second time.
#[derive(Debug)]
#[must_use = "a claim dropped at once frees its key again"]
pub struct Claim {
    client: Client,
    /// The Valkey key (with its prefix).
    key: String,
    /// Hash of the canonical body of the request holding the key.
    body_hash: String,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing published yet: dropping frees the key.
    Reserved,
    /// A publish may be in flight: dropping keeps the reservation until it lapses.
    Publishing,
    /// Completed or released: nothing left to do.
    Settled,
}

impl Claim {
    /// Marks that the request's task may now reach JetStream: from here on a drop
    /// keeps the key reserved (see [`Claim`]).
    pub fn publishing(&mut self) {
        self.phase = Phase::Publishing;
    }

    /// Stores the request's answer for `window`: retries with the same key and body
    /// get it back instead of enqueueing again.
    pub async fn complete(
        mut self,
        status: u16,
        body: &str,
        window: Duration,
    ) -> Result<(), StoreError> {
        // Whatever happens to this write, the task was accepted: never free the key.
        self.phase = Phase::Settled;
        let _: () = self
            .client
            .set(
                &self.key,
                completed_value(&self.body_hash, status, body),
                Some(Expiration::PX(window.as_millis() as i64)),
                None::<SetOptions>,
                false,
            )
            .await?;
        Ok(())
    }

    /// Frees the key now, after a request that accepted nothing, so the client may
    /// retry at once.
    pub async fn release(mut self) -> Result<(), StoreError> {
        self.phase = Phase::Settled;
        let _: i64 = self.client.del(&self.key).await?;
        Ok(())
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        match self.phase {
            Phase::Settled => {}
            Phase::Publishing => tracing::debug!(
                "idempotency claim dropped while its publish was in flight; the key lapses on its own"
            ),
            Phase::Reserved => {
                let (client, key) = (self.client.clone(), std::mem::take(&mut self.key));
                let release = async move {
                    if let Err(e) = client.del::<i64, _>(key).await {
                        tracing::warn!(error = %e, "idempotency key could not be released; it lapses on its own");
                    }
                };
                // DEL is a network call: it cannot run inside `drop`, so it runs
                // beside it, in the span of whatever dropped the claim.
                match tokio::runtime::Handle::try_current() {
                    Ok(runtime) => {
                        runtime.spawn(release.instrument(tracing::Span::current()));
                    }
                    Err(_) => tracing::warn!(
                        "idempotency claim dropped outside a runtime; the key lapses on its own"
                    ),
                }
            }
        }
    }
}

/// Reserves `tenant`'s `key` for a request whose canonical body hashes to `body_hash`,
/// or reads what holds it. The reservation expires after `in_flight_ttl`.
pub(crate) async fn reserve(
    client: &Client,
    script: &Script,
    tenant: &str,
    key: &str,
    body_hash: &str,
    in_flight_ttl: Duration,
) -> Result<IdempotencyState, StoreError> {
    let key = keys::idempotency(tenant, key);
    let existing: Option<String> = script
        .evalsha_with_reload(
            client,
            vec![key.clone()],
            vec![
                in_flight_value(body_hash),
                in_flight_ttl.as_millis().max(1).to_string(),
            ],
        )
        .await?;
    Ok(match existing {
        None => IdempotencyState::Reserved(Claim {
            client: client.clone(),
            key,
            body_hash: body_hash.to_string(),
            phase: Phase::Reserved,
        }),
        Some(value) => parse_value(&value),
    })
}

fn in_flight_value(body_hash: &str) -> String {
    format!("P|{body_hash}")
}

fn completed_value(body_hash: &str, status: u16, body: &str) -> String {
    format!("D|{body_hash}|{status}|{body}")
}

/// A stored value held by someone else: in flight or completed.
fn parse_value(value: &str) -> IdempotencyState {
    if let Some(rest) = value.strip_prefix("D|") {
        let mut parts = rest.splitn(3, '|');
        let body_hash = parts.next().unwrap_or_default().to_string();
        let status = parts.next().and_then(|s| s.parse().ok()).unwrap_or(202);
        let body = parts.next().unwrap_or_default().to_string();
        return IdempotencyState::Completed {
            body_hash,
            status,
            body,
        };
    }
    IdempotencyState::InFlight {
        body_hash: value.strip_prefix("P|").unwrap_or(value).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        assert!(matches!(
            parse_value(&in_flight_value("abc")),
            IdempotencyState::InFlight { body_hash } if body_hash == "abc"
        ));
        let body = "{\"id\":\"x|y\"}";
        assert!(matches!(
            parse_value(&completed_value("abc", 202, body)),
            IdempotencyState::Completed { body_hash, status: 202, body: stored }
                if body_hash == "abc" && stored == body
        ));
    }
}
