//! Idempotency keys: a request reserves its key before it publishes, and either stores
//! its answer under the key (so a retry is answered the same) or frees the key (so a
//! retry may try again).
//!
//! Stored values: `P|<body hash>` while the request is in flight,
//! `D|<body hash>|<status>|<body>` once it is answered.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};

use super::error::StoreError;
use crate::names::keys;

/// What reserving an idempotency key found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// The key was free and is now reserved for this request.
    Reserved,
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

/// Reserves `key` for a request whose canonical body hashes to `body_hash`, or reads
/// what holds it. The reservation expires after `in_flight_ttl`.
pub(crate) async fn reserve(
    client: &Client,
    script: &Script,
    key: &str,
    body_hash: &str,
    in_flight_ttl: Duration,
) -> Result<IdempotencyState, StoreError> {
    let existing: Option<String> = script
        .evalsha_with_reload(
            client,
            vec![keys::idempotency(key)],
            vec![
                in_flight_value(body_hash),
                in_flight_ttl.as_millis().max(1).to_string(),
            ],
        )
        .await?;
    Ok(match existing {
        None => IdempotencyState::Reserved,
        Some(value) => parse_value(&value),
    })
}

/// Stores the answer for `key` for the replay window.
pub(crate) async fn complete(
    client: &Client,
    key: &str,
    body_hash: &str,
    status: u16,
    body: &str,
    window: Duration,
) -> Result<(), StoreError> {
    let _: () = client
        .set(
            keys::idempotency(key),
            completed_value(body_hash, status, body),
            Some(Expiration::PX(window.as_millis() as i64)),
            None::<SetOptions>,
            false,
        )
        .await?;
    Ok(())
}

/// Frees `key` after a request that accepted nothing, so the client may retry.
pub(crate) async fn release(client: &Client, key: &str) -> Result<(), StoreError> {
    let _: i64 = client.del(keys::idempotency(key)).await?;
    Ok(())
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
        assert_eq!(
            parse_value(&in_flight_value("abc")),
            IdempotencyState::InFlight {
                body_hash: "abc".into()
            }
        );
        let body = "{\"id\":\"x|y\"}";
        assert_eq!(
            parse_value(&completed_value("abc", 202, body)),
            IdempotencyState::Completed {
                body_hash: "abc".into(),
                status: 202,
                body: body.into()
            }
        );
    }
}
