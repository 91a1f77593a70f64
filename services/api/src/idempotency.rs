//! Idempotency-Key handling: a retried request with the same key and body gets the
//! original answer; a different body is refused; a concurrent duplicate gets 409.

use tasklane_core::store::IdempotencyState;

use crate::error::ApiError;
use crate::state::AppState;
use crate::submission::IdempotencyKey;

/// How long a stored answer is replayed, per the product contract.
pub const REPLAY_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

pub enum Claim {
    /// The key is ours; go ahead and enqueue.
    Fresh,
    /// Answer with what the first request got.
    Replay { status: u16, body: String },
}

pub async fn claim(state: &AppState, key: &IdempotencyKey) -> Result<Claim, ApiError> {
    // The reservation outlives any request that can still be running, then lapses so a
    // crashed gateway does not block the key for a whole day.
    let in_flight_ttl = state.settings.api.request_timeout * 2;
    let found = state
        .store
        .idempotency_reserve(&key.key, &key.body_hash, in_flight_ttl)
        .await
        .map_err(|e| {
            tracing::warn!(error = %e, "idempotency key could not be reserved");
            ApiError::store_unavailable()
        })?;
    match found {
        IdempotencyState::Reserved => Ok(Claim::Fresh),
        IdempotencyState::InFlight { body_hash } if body_hash == key.body_hash => {
            Err(ApiError::conflict(
                "a request with this Idempotency-Key is still in flight; retry shortly",
            )
            .retry_after(1))
        }
        IdempotencyState::Completed {
            body_hash,
            status,
            body,
        } if body_hash == key.body_hash => {
            state.metrics.idempotent_replays.inc();
            Ok(Claim::Replay { status, body })
        }
        IdempotencyState::InFlight { .. } | IdempotencyState::Completed { .. } => {
            Err(ApiError::idempotency_mismatch())
        }
    }
}

/// Stores the answer so retries replay it. A failure here only costs the replay, not
/// the task, so it is logged rather than turned into an error.
pub async fn complete(state: &AppState, key: &IdempotencyKey, status: u16, body: &str) {
    if let Err(e) = state
        .store
        .idempotency_complete(&key.key, &key.body_hash, status, body, REPLAY_WINDOW)
        .await
    {
        tracing::warn!(error = %e, "idempotent answer could not be stored; a retry would enqueue again");
    }
}

/// Frees the key after a request that accepted nothing, so the client can retry it.
pub async fn release(state: &AppState, key: &IdempotencyKey) {
    if let Err(e) = state.store.idempotency_release(&key.key).await {
        tracing::warn!(error = %e, "idempotency key could not be released; it lapses on its own");
    }
}
