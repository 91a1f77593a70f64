//! Idempotency keys: a request reserves its key before it publishes, and either stores
//! its answer under the key (so a retry is answered the same) or lets go of it.
//!
//! The reservation carries the task id (and creation time) the request publishes
//! under, fixed before the publish. A request that ends without knowing whether
//! JetStream stored its message (a PubAck timeout, a dropped connection, a cancelled
//! request) keeps the reservation and ends its holder deadline, so the next retry with
//! the same key and body *resumes* it: it publishes again under the same message id,
//! and JetStream's duplicate window drops the copy if the first one was stored. Only
//! a request whose publish certainly did not happen frees the key
//! ([`Claim::release`]).
//!
//! A reservation lives for `lifetime`, which the gateway keeps within the work
//! stream's duplicate window: a resume is only safe while JetStream still remembers
//! the id.
//!
//! Stored values: `P|<body hash>|<holder deadline ms>|<task id>|<created_at>` while
//! the request is in flight or its publish outcome is unknown (the deadline is in
//! Valkey's clock), `D|<body hash>|<status>|<body>` once it is answered.

use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};
use tracing::Instrument;

use super::error::StoreError;
use crate::names::keys;
use crate::task::TaskId;

/// The task a reservation publishes: fixed before the first publish, and the same
/// for every retry that resumes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedTask {
    /// The task id, which is also the JetStream message id.
    pub id: TaskId,
    /// When the task was first submitted (RFC 3339).
    pub created_at: String,
}

/// How long a reservation is held.
#[derive(Debug, Clone, Copy)]
pub struct ReservationTimes {
    /// How long its holder may still be publishing; after it, a retry resumes it.
    pub in_flight: Duration,
    /// How long the reservation exists at all.
    pub lifetime: Duration,
}

/// What reserving an idempotency key found.
#[derive(Debug)]
pub enum IdempotencyState {
    /// The key was free, or held by an earlier request for the same body whose
    /// publish outcome is unknown; it is now held by this request.
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
/// was published, so a retry must be free to go ahead. Dropped after it, it keeps the
/// reservation and ends its holder deadline (as [`Claim::abandon`]): the publish may
/// have reached JetStream, so a retry must publish the same task id again.
#[derive(Debug)]
#[must_use = "a claim dropped at once frees its key again"]
pub struct Claim {
    client: Client,
    let_go: Script,
    /// The Valkey key (with its prefix).
    key: String,
    /// Hash of the canonical body of the request holding the key.
    body_hash: String,
    task: PlannedTask,
    resumed: bool,
    phase: Phase,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Nothing published yet: dropping frees the key.
    Reserved,
    /// A publish may be in flight: dropping abandons the reservation for a retry.
    Publishing,
    /// Completed, released or abandoned: nothing left to do.
    Settled,
}

/// What [`let_go`] does with a reservation.
#[derive(Debug, Clone, Copy)]
enum LetGo {
    Release,
    Abandon,
}

impl LetGo {
    fn as_arg(self) -> &'static str {
        match self {
            Self::Release => "release",
            Self::Abandon => "abandon",
        }
    }
}

impl Claim {
    /// The task this request must publish: a fresh one, or the one of the earlier
    /// request it resumes.
    pub fn task(&self) -> &PlannedTask {
        &self.task
    }

    /// Whether an earlier request for the same key and body left this reservation
    /// with its publish outcome unknown.
    pub fn resumed(&self) -> bool {
        self.resumed
    }

    /// Marks that the request's task may now reach JetStream: from here on a drop
    /// keeps the reservation (see [`Claim`]).
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

    /// Frees the key now, after a request whose task certainly never reached
    /// JetStream, so the client may retry at once with a fresh task.
    pub async fn release(self) -> Result<(), StoreError> {
        self.let_go(LetGo::Release).await
    }

    /// Keeps the reservation for a retry after a publish whose outcome is unknown:
    /// the next request with the same key and body resumes it at once and publishes
    /// the same task id again.
    pub async fn abandon(self) -> Result<(), StoreError> {
        self.let_go(LetGo::Abandon).await
    }

    async fn let_go(mut self, how: LetGo) -> Result<(), StoreError> {
        self.phase = Phase::Settled;
        let_go(
            &self.client,
            &self.let_go,
            &self.key,
            &self.body_hash,
            &self.task.id,
            how,
        )
        .await
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        let how = match self.phase {
            Phase::Settled => return,
            Phase::Publishing => LetGo::Abandon,
            Phase::Reserved => LetGo::Release,
        };
        let (client, script) = (self.client.clone(), self.let_go.clone());
        let (key, body_hash) = (
            std::mem::take(&mut self.key),
            std::mem::take(&mut self.body_hash),
        );
        let task_id = self.task.id;
        let write = async move {
            if let Err(e) = let_go(&client, &script, &key, &body_hash, &task_id, how).await {
                tracing::warn!(error = %e, "idempotency key could not be let go; its holder deadline lapses on its own");
            }
        };
        // A script call is a network call: it cannot run inside `drop`, so it runs
        // beside it, in the span of whatever dropped the claim.
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(write.instrument(tracing::Span::current()));
            }
            Err(_) => tracing::warn!(
                "idempotency claim dropped outside a runtime; its holder deadline lapses on its own"
            ),
        }
    }
}

async fn let_go(
    client: &Client,
    script: &Script,
    key: &str,
    body_hash: &str,
    task_id: &TaskId,
    how: LetGo,
) -> Result<(), StoreError> {
    let _: i64 = script
        .evalsha_with_reload(
            client,
            vec![key.to_string()],
            vec![
                body_hash.to_string(),
                task_id.to_string(),
                how.as_arg().to_string(),
            ],
        )
        .await?;
    Ok(())
}

/// Reserves `tenant`'s `key` for a request whose canonical body hashes to `body_hash`
/// and that would publish `fresh`, resumes an abandoned reservation for the same body,
/// or reads what holds it.
pub(crate) async fn reserve(
    client: &Client,
    scripts: (&Script, &Script),
    tenant: &str,
    key: &str,
    body_hash: &str,
    fresh: PlannedTask,
    times: ReservationTimes,
) -> Result<IdempotencyState, StoreError> {
    let (reserve_script, let_go_script) = scripts;
    let key = keys::idempotency(tenant, key);
    let existing: Option<String> = reserve_script
        .evalsha_with_reload(
            client,
            vec![key.clone()],
            vec![
                body_hash.to_string(),
                fresh.id.to_string(),
                fresh.created_at.clone(),
                times.in_flight.as_millis().max(1).to_string(),
                times.lifetime.as_millis().max(1).to_string(),
            ],
        )
        .await?;
    let claim = |task, resumed| {
        IdempotencyState::Reserved(Claim {
            client: client.clone(),
            let_go: let_go_script.clone(),
            key: key.clone(),
            body_hash: body_hash.to_string(),
            task,
            resumed,
            phase: Phase::Reserved,
        })
    };
    Ok(match existing {
        None => claim(fresh, false),
        Some(value) => match parse_resumed(&value) {
            Some(task) => claim(task, true),
            None => parse_value(&value),
        },
    })
}

/// The task of a resumed reservation: `R|<task id>|<created_at>`.
fn parse_resumed(value: &str) -> Option<PlannedTask> {
    let (id, created_at) = value.strip_prefix("R|")?.split_once('|')?;
    Some(PlannedTask {
        id: id.parse().ok()?,
        created_at: created_at.to_string(),
    })
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
    let held = value.strip_prefix("P|").unwrap_or(value);
    IdempotencyState::InFlight {
        body_hash: held.split('|').next().unwrap_or_default().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stored_values_round_trip() {
        assert!(matches!(
            parse_value("P|abc|1700000000000|0190b7a4-0000-7000-8000-000000000000|t"),
            IdempotencyState::InFlight { body_hash } if body_hash == "abc"
        ));
        let body = "{\"id\":\"x|y\"}";
        assert!(matches!(
            parse_value(&completed_value("abc", 202, body)),
            IdempotencyState::Completed { body_hash, status: 202, body: stored }
                if body_hash == "abc" && stored == body
        ));
        let id = TaskId::new();
        assert_eq!(
            parse_resumed(&format!("R|{id}|2026-01-01T00:00:00.000Z")),
            Some(PlannedTask {
                id,
                created_at: "2026-01-01T00:00:00.000Z".into()
            })
        );
        assert_eq!(parse_resumed("P|abc|0|x|y"), None);
    }
}
