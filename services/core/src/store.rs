//! Valkey: task records, the once-per-task counters and idempotency keys.
//!
//! Every write that must be atomic is one Lua script (`scripts/*.lua`), so a crash
//! between two commands can never leave a half-written record or a counter bumped
//! twice:
//! - `record_queued_many`: the gateway's records, written only if no worker got
//!   there first;
//! - `start_attempt_many`: counts an attempt and marks the task running, unless
//!   finished;
//! - `finish_many`: the outcome plus the counters, once per task however often
//!   delivered;
//! - `redrive_link`: links a dead task and the task that re-drives it.
//! - `cancel`: the final `cancelled` status and its counter, unless finished.
//!
//! The same four keep each tenant's count of outstanding tasks (accepted, not
//! finished): +1 when a record first gets a live status, -1 when a live record gets
//! its outcome or is cancelled, so the count moves exactly when a record does and
//! cannot drift from the records. `admit_many` reads it, with the tenant's rate
//! limit, before a submission.
//!
//! Each script takes many tasks, and the per-task writes (and admissions) of
//! concurrent requests and deliveries share calls through [`GroupCommit`]: a script
//! runs whole, so batching changes how many round trips Valkey serves, not what any
//! one task sees.

mod admission;
mod cancellation;
mod connection;
mod error;
mod group_commit;
mod idempotency;
mod records;
mod redrive;
mod replicas;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use fred::prelude::*;

use admission::AdmitRequest;
pub use admission::{Admission, TenantLimits};
pub use cancellation::Cancellation;
use connection::build_client;
pub use error::StoreError;
use group_commit::GroupCommit;
pub use idempotency::{Claim, IdempotencyState, PlannedTask, ReservationTimes};
use records::{AttemptRequest, OutcomeRequest, OwnedQueued};
pub use records::{AttemptStart, Counters, FinalOutcome, QueuedRecord, RecordIdentity, TaskRecord};
pub use redrive::RedriveLink;
use scripts::Scripts;

use crate::config::ValkeySettings;
use crate::names::keys;
use crate::task::{TaskId, bounded_error, now_rfc3339};

/// How long a single Valkey command may wait, including while reconnecting.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);
/// Most tasks one script call carries: bounds how long a single script holds Valkey
/// (which runs one script at a time) to well under a millisecond.
const BATCH_LIMIT: usize = 100;
/// Group-commit script calls of one kind outstanding at once. Writes that arrive while
/// all are busy form the next batch. Two fill batches of ~9 tasks at the worker's
/// default concurrency (~5 with four, ~2 with sixteen) without leaving a single slow
/// call in front of every write.
const WRITES_IN_FLIGHT: usize = 2;

/// The Valkey client and the scripts it runs. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    scripts: Scripts,
    /// How long a finished record is kept, in milliseconds.
    ttl_ms: u64,
    queued_records: GroupCommit<OwnedQueued, (), fred::error::Error>,
    attempt_starts: GroupCommit<AttemptRequest, AttemptStart, fred::error::Error>,
    outcomes: GroupCommit<OutcomeRequest, bool, fred::error::Error>,
    admissions: GroupCommit<AdmitRequest, Admission, fred::error::Error>,
}

impl Store {
    /// Builds the client and starts connecting in the background. Commands wait for the
    /// connection (up to a timeout), and lost connections are re-established forever,
    /// so a Valkey restart never needs a restart of ours. Must be called within a
    /// Tokio runtime: the group-commit writers are spawned on it. `ttl` is how long
    /// task records are kept.
    ///
    /// With `valkey.sentinels` set, the primary is found through Sentinel, and again
    /// after every lost connection, so a failover is followed without a restart. With
    /// `valkey.min_replicas_ack` above 0, each batch of outcome writes is followed by
    /// one `WAIT` (see [`replicas`]).
    pub fn connect(settings: &ValkeySettings, ttl: Duration) -> Result<Self, StoreError> {
        let client = build_client(settings, COMMAND_TIMEOUT)?;
        client.connect();
        let ttl_ms = ttl.as_millis() as u64;
        let scripts = Scripts::load();
        let queued_records = {
            let (client, script) = (client.clone(), scripts.record_queued_many.clone());
            GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |tasks| {
                let borrowed: Vec<_> = tasks.iter().map(OwnedQueued::borrow).collect();
                let call = records::record_queued(&client, &script, &borrowed);
                async move {
                    call.await?;
                    Ok(vec![(); tasks.len()])
                }
            })
        };
        let attempt_starts = {
            let (client, script) = (client.clone(), scripts.start_attempt_many.clone());
            GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |requests| {
                records::start_attempts(client.clone(), script.clone(), ttl_ms, requests)
            })
        };
        let admissions = {
            let (client, script) = (client.clone(), scripts.admit_many.clone());
            GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |requests| {
                admission::admit_many(client.clone(), script.clone(), requests)
            })
        };
        let outcomes = {
            let confirm = replicas::Confirmation::from_settings(settings);
            // `WAIT` blocks the connection it is sent on, so outcome writes get their
            // own: reads and the other writes never queue behind a replica wait.
            let client = match confirm {
                Some(_) => {
                    let own =
                        build_client(settings, COMMAND_TIMEOUT + settings.replica_ack_timeout)?;
                    own.connect();
                    own
                }
                None => client.clone(),
            };
            let script = scripts.finish_many.clone();
            GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |requests| {
                let connection = confirm.map(|_| replicas::Connection::of(&client));
                let write =
                    records::write_outcomes(client.clone(), script.clone(), ttl_ms, requests);
                let client = client.clone();
                async move {
                    let written = write.await?;
                    if let (Some(confirm), Some(connection)) = (confirm, connection) {
                        confirm.wait(&client, connection).await?;
                    }
                    Ok(written)
                }
            })
        };
        Ok(Self {
            inner: Arc::new(Inner {
                client,
                scripts,
                ttl_ms,
                queued_records,
                attempt_starts,
                outcomes,
                admissions,
            }),
        })
    }

    /// One round trip to Valkey.
    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.inner.client.ping(None).await?;
        Ok(())
    }

    /// The gateway's `queued` record, written after the PubAck. A worker that
    /// already started the task wins: the record is then left alone. Concurrent
    /// requests' records share script calls (see [`GroupCommit`]).
    pub async fn record_queued(
        &self,
        record: impl Into<QueuedRecord<'_>>,
    ) -> Result<(), StoreError> {
        Ok(self
            .inner
            .queued_records
            .submit(record.into().into())
            .await?)
    }

    /// [`Store::record_queued`] for many tasks: one script call per `BATCH_LIMIT`
    /// records instead of one per task, so a batch of 100 costs Valkey and the
    /// gateway one round trip. Returns how many records were written.
    pub async fn record_queued_many(&self, tasks: &[QueuedRecord<'_>]) -> Result<u64, StoreError> {
        let inner = &self.inner;
        let calls = tasks.chunks(BATCH_LIMIT).map(|chunk| {
            let script = &inner.scripts.record_queued_many;
            records::record_queued(&inner.client, script, chunk)
        });
        let mut written = 0;
        for result in futures::future::join_all(calls).await {
            written += result?;
        }
        Ok(written)
    }

    /// Counts the start of an attempt, unless the task is finished or `max_attempts`
    /// attempts were already started. `deliveries` and `published_ms` describe the
    /// message: a redelivery published longer than the records' ttl ago that finds no
    /// record is a task that finished long ago ([`AttemptStart::RecordExpired`]),
    /// since only finished records expire.
    pub async fn start_attempt(
        &self,
        task: RecordIdentity<'_>,
        max_attempts: u32,
        deliveries: i64,
        published_ms: u64,
    ) -> Result<AttemptStart, StoreError> {
        let request = AttemptRequest {
            task: task.into(),
            max_attempts,
            redelivered: deliveries > 1,
            published_ms,
        };
        Ok(self.inner.attempt_starts.submit(request).await?)
    }

    /// Remembers why an attempt failed, for the client and for the dead letter.
    pub async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _: i64 = inner
            .scripts
            .record_error
            .evalsha_with_reload(
                &inner.client,
                vec![keys::task(id)],
                vec![bounded_error(error.to_string()), now_rfc3339()],
            )
            .await?;
        Ok(())
    }

    /// Un-counts an attempt that a graceful shutdown interrupted, so rolling out a new
    /// version never uses up a task's attempts.
    pub async fn release_attempt(&self, id: &str) -> Result<(), StoreError> {
        let inner = &self.inner;
        let _: i64 = inner
            .scripts
            .release_attempt
            .evalsha_with_reload(&inner.client, vec![keys::task(id)], Vec::<String>::new())
            .await?;
        Ok(())
    }

    /// Writes the outcome and bumps the counters. Returns false when the task already
    /// had an outcome (a redelivery), in which case nothing changed. `attempts` (the
    /// attempts the caller knows were made) raises the record's count if it is lower.
    pub async fn finish(
        &self,
        task: RecordIdentity<'_>,
        outcome: &FinalOutcome<'_>,
        attempts: u32,
    ) -> Result<bool, StoreError> {
        let request = OutcomeRequest::new(task, outcome, attempts);
        Ok(self.inner.outcomes.submit(request).await?)
    }

    /// Admits `n` tasks of `tenant` under `limits`, or says why not. Concurrent
    /// requests' admissions share script calls (see [`GroupCommit`]).
    pub async fn admit(
        &self,
        tenant: &str,
        n: u64,
        limits: TenantLimits,
    ) -> Result<Admission, StoreError> {
        let request = AdmitRequest {
            tenant: tenant.to_string(),
            n,
            limits,
        };
        Ok(self.inner.admissions.submit(request).await?)
    }

    /// How many of `tenant`'s tasks are accepted and not finished.
    pub async fn outstanding(&self, tenant: &str) -> Result<u64, StoreError> {
        let count: Option<i64> = self.inner.client.get(keys::outstanding(tenant)).await?;
        Ok(count.unwrap_or(0).max(0) as u64)
    }

    /// The task's record, if it exists (records expire after `results.ttl`).
    pub async fn get_task(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let fields = self
            .inner
            .client
            .hgetall(keys::task(&id.to_string()))
            .await?;
        Ok(records::parse_record(fields))
    }

    /// The counters behind `GET /stats`.
    pub async fn counters(&self) -> Result<Counters, StoreError> {
        let values: Vec<Option<u64>> = self
            .inner
            .client
            .hmget(keys::STATS, records::COUNTER_FIELDS.to_vec())
            .await?;
        Ok(records::counters_from(&values))
    }

    /// How many keys the Valkey database holds.
    pub async fn key_count(&self) -> Result<u64, StoreError> {
        Ok(self.inner.client.dbsize().await?)
    }

    /// Reserves `tenant`'s `key` for a request whose canonical body hashes to
    /// `body_hash` and that would publish `fresh`; resumes a reservation for the same
    /// body whose publish outcome was left unknown (the claim then names that earlier
    /// task); or reports what holds the key. Keys are per tenant: the same key from two
    /// tenants names two requests. See [`ReservationTimes`] for how long it is held.
    pub async fn idempotency_reserve(
        &self,
        tenant: &str,
        key: &str,
        body_hash: &str,
        fresh: PlannedTask,
        times: ReservationTimes,
    ) -> Result<IdempotencyState, StoreError> {
        let inner = &self.inner;
        idempotency::reserve(
            &inner.client,
            (
                &inner.scripts.idempotency_reserve,
                &inner.scripts.idempotency_let_go,
            ),
            tenant,
            key,
            body_hash,
            fresh,
            times,
        )
        .await
    }
}
