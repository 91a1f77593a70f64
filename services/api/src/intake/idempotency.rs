//! Idempotency-Key handling: a retried request with the same key and body gets the
//! original answer; a different body is refused; a concurrent duplicate gets 409.
//! The key itself is held through a [`Claim`], which frees it again unless the
//! request completes (see there for when a dropped claim keeps it).

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode};
use prometheus::IntCounter;
use sha2::{Digest, Sha256};
use tasklane_core::store::{Claim, IdempotencyState, PlannedTask, ReservationTimes, Store};
use tasklane_core::telemetry::ErrorChain;

use crate::error::{ApiError, Cause};

/// How long a stored answer is replayed, per the product contract.
const REPLAY_WINDOW: Duration = Duration::from_secs(24 * 3600);

/// A client's idempotency key (1..=255 visible ASCII characters) and the hash of the
/// request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    /// The key as the client sent it.
    pub key: String,
    /// SHA-256 of the request's canonical JSON, hex.
    pub body_hash: String,
}

impl IdempotencyKey {
    /// Checks `key` (a 422 naming `field` if it is not 1 to 255 visible ASCII
    /// characters) and hashes the request's canonical body.
    pub fn parse(key: &str, field: &str, canonical_body: &[u8]) -> Result<Self, ApiError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(invalid(field));
        }
        Ok(Self {
            key: key.to_string(),
            body_hash: hex::encode(Sha256::digest(canonical_body)),
        })
    }

    /// The `Idempotency-Key` header of a request whose raw body is `raw`.
    pub(crate) fn from_header(value: &HeaderValue, raw: &[u8]) -> Result<Self, ApiError> {
        const FIELD: &str = "Idempotency-Key";
        let key = value.to_str().map_err(|_| invalid(FIELD))?;
        Self::parse(key, FIELD, &canonical_json(raw))
    }
}

fn invalid(field: &str) -> ApiError {
    ApiError::validation(format!(
        "{field}: must be 1 to 255 visible ASCII characters"
    ))
}

/// What claiming a key found.
pub(crate) enum Claimed {
    /// The key is ours; go ahead and publish.
    Fresh(Claim),
    /// Answer with what the first request got.
    Replay(Replay),
}

/// The stored answer of an earlier request with the same key and body.
pub(crate) struct Replay {
    pub(crate) status: u16,
    pub(crate) body: String,
}

/// Reserves keys in the store, and counts replays.
pub(crate) struct Claims {
    store: Store,
    times: ReservationTimes,
    replays: IntCounter,
}

impl Claims {
    /// `request_timeout` bounds a request: a reservation is held in flight for longer
    /// than any request that can still be running, so a crashed gateway blocks its key
    /// only that long, after which a retry resumes the reservation. A reservation
    /// lives for the stream's `duplicate_window` (configuration keeps that longer than
    /// the in-flight time): resuming re-publishes the same message id, which is only
    /// harmless while JetStream still remembers it.
    pub(crate) fn new(
        store: Store,
        request_timeout: Duration,
        duplicate_window: Duration,
        replays: IntCounter,
    ) -> Self {
        Self {
            store,
            times: ReservationTimes {
                in_flight: request_timeout * 2,
                lifetime: duplicate_window,
            },
            replays,
        }
    }

    /// Claims `tenant`'s `key` for this request, which would publish `fresh`, or finds
    /// the answer to replay. A claimed key names the task to publish: `fresh`, or the
    /// task of an earlier request whose publish outcome is unknown.
    pub(crate) async fn claim(
        &self,
        tenant: &str,
        key: &IdempotencyKey,
        fresh: PlannedTask,
    ) -> Result<Claimed, ApiError> {
        let found = self
            .store
            .idempotency_reserve(tenant, &key.key, &key.body_hash, fresh, self.times)
            .await
            .map_err(|e| {
                ApiError::store_unavailable()
                    .caused_by(Cause::new("idempotency key could not be reserved", e))
            })?;
        match found {
            IdempotencyState::Reserved(claim) => Ok(Claimed::Fresh(claim)),
            IdempotencyState::InFlight { body_hash } if body_hash == key.body_hash => {
                Err(ApiError::idempotency_in_flight())
            }
            IdempotencyState::Completed {
                body_hash,
                status,
                body,
            } if body_hash == key.body_hash => {
                self.replays.inc();
                Ok(Claimed::Replay(Replay { status, body }))
            }
            IdempotencyState::InFlight { .. } | IdempotencyState::Completed { .. } => {
                Err(ApiError::idempotency_mismatch())
            }
        }
    }
}

/// Stores the answer so retries replay it (nothing to do without a claim). A failure
/// here only costs the replay, not the task, so it is logged rather than returned.
pub(crate) async fn complete(claim: Option<Claim>, status: StatusCode, body: &str) {
    let Some(claim) = claim else { return };
    if let Err(e) = claim.complete(status.as_u16(), body, REPLAY_WINDOW).await {
        tracing::warn!(error = %ErrorChain(&e), "idempotent answer could not be stored; a retry would enqueue again");
    }
}

/// Frees the key after a request that certainly accepted nothing, so the client can
/// retry it.
pub(crate) async fn release(claim: Option<Claim>) {
    let Some(claim) = claim else { return };
    if let Err(e) = claim.release().await {
        tracing::warn!(error = %ErrorChain(&e), "idempotency key could not be released; it lapses on its own");
    }
}

/// Settles the key of a request that published nothing for sure: freed when the task
/// certainly was not stored, otherwise kept for a retry to re-publish the same task id.
/// A resumed key is never freed: this request's publish failing says nothing about
/// the earlier one, whose outcome is still unknown.
pub(crate) async fn let_go(claim: Option<Claim>, not_stored: bool) {
    let Some(claim) = claim else { return };
    if not_stored && !claim.resumed() {
        return release(Some(claim)).await;
    }
    if let Err(e) = claim.abandon().await {
        tracing::warn!(error = %ErrorChain(&e), "idempotency key could not be handed to a retry; it does so once its holder deadline lapses");
    }
}

/// The request re-encoded with sorted object keys and no whitespace, so two requests
/// that differ only in formatting count as the same body for idempotency.
pub fn canonical_json(raw: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(value) => {
            let mut out = Vec::with_capacity(raw.len());
            write_canonical(&value, &mut out);
            out
        }
        Err(_) => raw.to_vec(),
    }
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key).expect("string serializes"));
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalar serializes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a = canonical_json(br#"{"type":"echo","payload":{"b":1,"a":[1, 2]}}"#);
        let b = canonical_json(b"{ \"payload\" : {\"a\":[1,2],\"b\":1}, \"type\":\"echo\" }");
        assert_eq!(a, b);
        assert_ne!(
            a,
            canonical_json(br#"{"type":"echo","payload":{"b":2,"a":[1,2]}}"#)
        );
    }

    #[test]
    fn idempotency_keys_must_be_visible_ascii() {
        assert!(IdempotencyKey::parse("order-42", "Idempotency-Key", b"{}").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255), "Idempotency-Key", b"{}").is_ok());
        for bad in ["", "has space", "tab\there", "ü", &"k".repeat(256)] {
            assert!(
                IdempotencyKey::parse(bad, "Idempotency-Key", b"{}").is_err(),
                "{bad:?}"
            );
        }
    }
}
