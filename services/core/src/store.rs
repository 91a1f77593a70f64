//! Valkey: task records, the once-per-task counters and idempotency keys.
//!
//! Every write that must be atomic is one Lua script, so a crash between two
//! commands can never leave a half-written record or a counter bumped twice:
//! - `record_queued`: the gateway's record, written only if no worker got there first
//!   (`record_queued_many` does the same for a whole batch in one call);
//! - `start_attempt`: counts an attempt and marks the task running, unless finished;
//! - `finish`: the outcome plus the counters, once per task however often delivered.
//!
//! Each script takes many tasks, and the per-task writes of concurrent requests and
//! deliveries share calls through [`GroupCommit`]: a script runs whole, so batching
//! changes how many round trips Valkey serves, not what any one task sees.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use fred::prelude::*;
use fred::types::scripts::Script;
use fred::types::{Expiration, SetOptions};

use crate::config::ValkeySettings;
use crate::group_commit::GroupCommit;
use crate::task::{TaskId, TaskStatus, now_rfc3339};

const TASK_KEY_PREFIX: &str = "tasklane:task:";
const IDEMPOTENCY_KEY_PREFIX: &str = "tasklane:idem:";
/// One hash holds the counters behind `GET /stats`; it has no TTL.
pub const STATS_KEY: &str = "tasklane:stats";
/// How long a single Valkey command may wait, including while reconnecting.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(2);

// KEYS: task keys. ARGV: ttl_ms, then id, type, created_at for each key in order.
const RECORD_QUEUED_MANY: &str = r#"
local written = 0
for i, key in ipairs(KEYS) do
  if redis.call('EXISTS', key) == 0 then
    local at = (i - 1) * 3 + 2
    redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'status', 'queued',
      'attempts', 0, 'created_at', ARGV[at + 2], 'updated_at', ARGV[at + 2])
    redis.call('PEXPIRE', key, ARGV[1])
    written = written + 1
  end
end
return written
"#;

/// Most tasks one script call carries: bounds how long a single script holds Valkey
/// (which runs one script at a time) to well under a millisecond.
const BATCH_LIMIT: usize = 100;
/// Group-commit script calls of one kind outstanding at once. Writes that arrive while
/// all are busy form the next batch. Two fill batches of ~9 tasks at the worker's
/// default concurrency (~5 with four, ~2 with sixteen) without leaving a single slow
/// call in front of every write.
const WRITES_IN_FLIGHT: usize = 2;

// KEYS: task keys. ARGV: now, ttl_ms, then id, type, created_at, max_attempts for each
// key in order. Returns status, attempts and last error for each key, flattened.
const START_ATTEMPT_MANY: &str = r#"
local now, ttl = ARGV[1], ARGV[2]
local replies = {}
for i, key in ipairs(KEYS) do
  local at = (i - 1) * 4 + 3
  local record = redis.call('HMGET', key, 'status', 'attempts', 'error')
  local status, made, last_error = record[1], tonumber(record[2] or '0'), record[3] or ''
  if status == 'succeeded' or status == 'failed' or status == 'dead' then
    replies[#replies + 1] = status
    replies[#replies + 1] = tostring(made)
    replies[#replies + 1] = ''
  elseif made >= tonumber(ARGV[at + 3]) then
    replies[#replies + 1] = 'exhausted'
    replies[#replies + 1] = tostring(made)
    replies[#replies + 1] = last_error
  else
    if status then
      redis.call('HSET', key, 'status', 'running', 'attempts', made + 1, 'updated_at', now)
    else
      redis.call('HSET', key, 'id', ARGV[at], 'type', ARGV[at + 1], 'created_at', ARGV[at + 2],
        'status', 'running', 'attempts', made + 1, 'updated_at', now)
    end
    redis.call('PEXPIRE', key, ttl)
    replies[#replies + 1] = 'running'
    replies[#replies + 1] = tostring(made + 1)
    replies[#replies + 1] = last_error
  end
end
return replies
"#;

const RECORD_ERROR: &str = r#"
local status = redis.call('HGET', KEYS[1], 'status')
if status == 'succeeded' or status == 'failed' or status == 'dead' then return 0 end
redis.call('HSET', KEYS[1], 'error', ARGV[1], 'updated_at', ARGV[2])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"#;

// An attempt cut short by a graceful shutdown did not really happen: give it back.
const RELEASE_ATTEMPT: &str = r#"
if redis.call('HGET', KEYS[1], 'status') ~= 'running' then return 0 end
if tonumber(redis.call('HGET', KEYS[1], 'attempts') or '0') > 0 then
  redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
return 1
"#;

// KEYS: the stats hash, then task keys. ARGV: now, ttl_ms, then status, result
// ('' = none), error ('' = none), id, type, created_at for each task key in order.
// Returns 1 for each task whose outcome this wrote, 0 for one that already had one.
const FINISH_MANY: &str = r#"
local now, ttl = ARGV[1], ARGV[2]
local written, counts = {}, {}
for i = 2, #KEYS do
  local key, at = KEYS[i], (i - 2) * 6 + 3
  local status = redis.call('HGET', key, 'status')
  if status == 'succeeded' or status == 'failed' or status == 'dead' then
    written[#written + 1] = 0
  else
    local fields = {'status', ARGV[at], 'updated_at', now}
    if ARGV[at + 1] ~= '' then fields[#fields + 1] = 'result'; fields[#fields + 1] = ARGV[at + 1] end
    if ARGV[at + 2] ~= '' then fields[#fields + 1] = 'error'; fields[#fields + 1] = ARGV[at + 2] end
    if not status then
      for _, field in ipairs({'id', ARGV[at + 3], 'type', ARGV[at + 4],
          'created_at', ARGV[at + 5], 'attempts', '0'}) do
        fields[#fields + 1] = field
      end
    end
    redis.call('HSET', key, unpack(fields))
    redis.call('PEXPIRE', key, ttl)
    counts[ARGV[at]] = (counts[ARGV[at]] or 0) + 1
    written[#written + 1] = 1
  end
end
local processed = 0
for status, n in pairs(counts) do
  redis.call('HINCRBY', KEYS[1], status, n)
  processed = processed + n
end
if processed > 0 then redis.call('HINCRBY', KEYS[1], 'processed', processed) end
return written
"#;

// Returns nil when the key was free and is now reserved, else the stored value.
const IDEMPOTENCY_RESERVE: &str = r#"
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return false end
return redis.call('GET', KEYS[1])
"#;

#[derive(Debug, Clone, thiserror::Error)]
#[error("valkey: {0}")]
pub struct StoreError(#[from] fred::error::Error);

/// A task record as stored.
#[derive(Debug, Clone)]
pub struct TaskRecord {
    pub id: String,
    pub task_type: String,
    pub status: TaskStatus,
    pub attempts: u32,
    pub created_at: String,
    pub updated_at: String,
    /// Raw JSON of the handler's result.
    pub result: Option<String>,
    pub error: Option<String>,
}

/// What `start_attempt` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AttemptStart {
    /// The attempt was counted; `attempt` is its number (1-based).
    Started { attempt: u32 },
    /// The task already has an outcome; this delivery is a duplicate.
    AlreadyFinished(TaskStatus),
    /// Every allowed attempt was started and none ended with an outcome: the worker
    /// died or was killed while running them (the task may be what kills it).
    Exhausted {
        attempts: u32,
        last_error: Option<String>,
    },
}

/// The outcome written by `finish`.
#[derive(Debug, Clone)]
pub enum FinalOutcome<'a> {
    Succeeded { result: &'a str },
    Failed { error: &'a str },
    Dead { error: &'a str },
}

impl FinalOutcome<'_> {
    pub fn status(&self) -> TaskStatus {
        match self {
            Self::Succeeded { .. } => TaskStatus::Succeeded,
            Self::Failed { .. } => TaskStatus::Failed,
            Self::Dead { .. } => TaskStatus::Dead,
        }
    }
}

/// Identity of the task a record is about, used when a worker writes first.
#[derive(Debug, Clone, Copy)]
pub struct RecordIdentity<'a> {
    pub id: &'a str,
    pub task_type: &'a str,
    pub created_at: &'a str,
}

/// The counters behind `GET /stats`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub processed: u64,
    pub succeeded: u64,
    pub failed: u64,
    pub dead: u64,
}

/// State of an idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IdempotencyState {
    /// Reserved for this request.
    Reserved,
    /// Another request with this key is still being handled.
    InFlight { body_hash: String },
    /// A request with this key completed; its answer is stored.
    Completed {
        body_hash: String,
        status: u16,
        body: String,
    },
}

#[derive(Clone)]
pub struct Store {
    client: Client,
    record_queued_many: Script,
    record_error: Script,
    release_attempt: Script,
    idempotency_reserve: Script,
    ttl_ms: u64,
    queued_records: GroupCommit<OwnedIdentity, ()>,
    attempt_starts: GroupCommit<AttemptRequest, AttemptStart>,
    outcomes: GroupCommit<OutcomeRequest, bool>,
}

/// [`RecordIdentity`] that can wait in a group-commit queue.
struct OwnedIdentity {
    id: String,
    task_type: String,
    created_at: String,
}

impl From<RecordIdentity<'_>> for OwnedIdentity {
    fn from(who: RecordIdentity<'_>) -> Self {
        Self {
            id: who.id.to_string(),
            task_type: who.task_type.to_string(),
            created_at: who.created_at.to_string(),
        }
    }
}

impl OwnedIdentity {
    fn borrow(&self) -> RecordIdentity<'_> {
        RecordIdentity {
            id: &self.id,
            task_type: &self.task_type,
            created_at: &self.created_at,
        }
    }
}

struct AttemptRequest {
    who: OwnedIdentity,
    max_attempts: u32,
}

struct OutcomeRequest {
    who: OwnedIdentity,
    status: TaskStatus,
    result: String,
    error: String,
}

impl Store {
    /// Builds the client and starts connecting in the background. Commands wait for the
    /// connection (up to a timeout), and lost connections are re-established forever,
    /// so a Valkey restart never needs a restart of ours. Must be called within a
    /// Tokio runtime: the group-commit writers are spawned on it.
    pub fn connect(settings: &ValkeySettings, ttl: Duration) -> Result<Self, StoreError> {
        let mut config = Config::from_url(settings.url.expose())?;
        // Keep trying when Valkey is down at start-up too, instead of giving up on
        // the first connection: pods start in any order.
        config.fail_fast = false;
        let client = Builder::from_config(config)
            .with_connection_config(|c| {
                c.connection_timeout = Duration::from_secs(2);
                c.internal_command_timeout = Duration::from_secs(2);
                c.max_command_attempts = 2;
            })
            .with_performance_config(|p| {
                p.default_command_timeout = COMMAND_TIMEOUT;
            })
            .set_policy(ReconnectPolicy::new_exponential(0, 50, 1_000, 2))
            .build()?;
        client.connect();
        let ttl_ms = ttl.as_millis() as u64;
        let record_queued_many = Script::from_lua(RECORD_QUEUED_MANY);
        Ok(Self {
            queued_records: {
                let (client, script) = (client.clone(), record_queued_many.clone());
                GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |tasks| {
                    let borrowed: Vec<_> = tasks.iter().map(OwnedIdentity::borrow).collect();
                    let call = queued_call(&client, &script, ttl_ms, &borrowed);
                    async move {
                        call.await?;
                        Ok(vec![(); tasks.len()])
                    }
                })
            },
            attempt_starts: {
                let (client, script) = (client.clone(), Script::from_lua(START_ATTEMPT_MANY));
                GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |requests| {
                    start_attempts(client.clone(), script.clone(), ttl_ms, requests)
                })
            },
            outcomes: {
                let (client, script) = (client.clone(), Script::from_lua(FINISH_MANY));
                GroupCommit::start(BATCH_LIMIT, WRITES_IN_FLIGHT, move |requests| {
                    write_outcomes(client.clone(), script.clone(), ttl_ms, requests)
                })
            },
            client,
            record_queued_many,
            record_error: Script::from_lua(RECORD_ERROR),
            release_attempt: Script::from_lua(RELEASE_ATTEMPT),
            idempotency_reserve: Script::from_lua(IDEMPOTENCY_RESERVE),
            ttl_ms,
        })
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        let _: String = self.client.ping(None).await?;
        Ok(())
    }

    /// The gateway's `queued` record, written after the PubAck. A worker that
    /// already started the task wins: the record is then left alone. Concurrent
    /// requests' records share script calls (see [`GroupCommit`]).
    pub async fn record_queued(&self, who: RecordIdentity<'_>) -> Result<(), StoreError> {
        self.queued_records.submit(who.into()).await
    }

    /// [`Store::record_queued`] for many tasks: one script call per `BATCH_LIMIT`
    /// records instead of one per task, so a batch of 100 costs Valkey and the
    /// gateway one round trip. Returns how many records were written.
    pub async fn record_queued_many(
        &self,
        tasks: &[RecordIdentity<'_>],
    ) -> Result<u64, StoreError> {
        let calls = tasks
            .chunks(BATCH_LIMIT)
            .map(|chunk| queued_call(&self.client, &self.record_queued_many, self.ttl_ms, chunk));
        let mut written = 0;
        for result in futures::future::join_all(calls).await {
            written += result?;
        }
        Ok(written)
    }

    /// Counts the start of an attempt, unless the task is finished or `max_attempts`
    /// attempts were already started.
    pub async fn start_attempt(
        &self,
        who: RecordIdentity<'_>,
        max_attempts: u32,
    ) -> Result<AttemptStart, StoreError> {
        self.attempt_starts
            .submit(AttemptRequest {
                who: who.into(),
                max_attempts,
            })
            .await
    }

    /// Remembers why an attempt failed, for the client and for the dead letter.
    pub async fn record_error(&self, id: &str, error: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .record_error
            .evalsha_with_reload(
                &self.client,
                vec![task_key(id)],
                vec![error.to_string(), now_rfc3339(), self.ttl_ms.to_string()],
            )
            .await?;
        Ok(())
    }

    /// Un-counts an attempt that a graceful shutdown interrupted, so rolling out a new
    /// version never uses up a task's attempts.
    pub async fn release_attempt(&self, id: &str) -> Result<(), StoreError> {
        let _: i64 = self
            .release_attempt
            .evalsha_with_reload(&self.client, vec![task_key(id)], Vec::<String>::new())
            .await?;
        Ok(())
    }

    /// Writes the outcome and bumps the counters. Returns false when the task already
    /// had an outcome (a redelivery), in which case nothing changed.
    pub async fn finish(
        &self,
        who: RecordIdentity<'_>,
        outcome: &FinalOutcome<'_>,
    ) -> Result<bool, StoreError> {
        let (result, error) = match outcome {
            FinalOutcome::Succeeded { result } => (*result, ""),
            FinalOutcome::Failed { error } | FinalOutcome::Dead { error } => ("", *error),
        };
        self.outcomes
            .submit(OutcomeRequest {
                who: who.into(),
                status: outcome.status(),
                result: result.to_string(),
                error: error.to_string(),
            })
            .await
    }

    pub async fn get_task(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let fields: HashMap<String, String> =
            self.client.hgetall(task_key(&id.to_string())).await?;
        if fields.is_empty() {
            return Ok(None);
        }
        let get = |k: &str| fields.get(k).cloned().unwrap_or_default();
        Ok(Some(TaskRecord {
            id: get("id"),
            task_type: get("type"),
            status: fields
                .get("status")
                .and_then(|s| TaskStatus::parse(s))
                .unwrap_or(TaskStatus::Queued),
            attempts: fields
                .get("attempts")
                .and_then(|a| a.parse().ok())
                .unwrap_or(0),
            created_at: get("created_at"),
            updated_at: get("updated_at"),
            result: fields.get("result").cloned(),
            error: fields.get("error").cloned(),
        }))
    }

    pub async fn counters(&self) -> Result<Counters, StoreError> {
        let values: Vec<Option<u64>> = self
            .client
            .hmget(STATS_KEY, vec!["processed", "succeeded", "failed", "dead"])
            .await?;
        let at = |i: usize| values.get(i).copied().flatten().unwrap_or(0);
        Ok(Counters {
            processed: at(0),
            succeeded: at(1),
            failed: at(2),
            dead: at(3),
        })
    }

    pub async fn key_count(&self) -> Result<u64, StoreError> {
        Ok(self.client.dbsize().await?)
    }

    /// Reserves `key` for a request whose canonical body hashes to `body_hash`, or
    /// reports what holds it. The reservation expires after `in_flight_ttl`, so a
    /// gateway that dies mid-request does not block the key for a day.
    pub async fn idempotency_reserve(
        &self,
        key: &str,
        body_hash: &str,
        in_flight_ttl: Duration,
    ) -> Result<IdempotencyState, StoreError> {
        let existing: Option<String> = self
            .idempotency_reserve
            .evalsha_with_reload(
                &self.client,
                vec![idempotency_key(key)],
                vec![
                    format!("P|{body_hash}"),
                    in_flight_ttl.as_millis().max(1).to_string(),
                ],
            )
            .await?;
        Ok(match existing {
            None => IdempotencyState::Reserved,
            Some(value) => parse_idempotency_value(&value),
        })
    }

    /// Stores the answer for `key` for the idempotency window.
    pub async fn idempotency_complete(
        &self,
        key: &str,
        body_hash: &str,
        status: u16,
        body: &str,
        window: Duration,
    ) -> Result<(), StoreError> {
        let _: () = self
            .client
            .set(
                idempotency_key(key),
                format!("D|{body_hash}|{status}|{body}"),
                Some(Expiration::PX(window.as_millis() as i64)),
                None::<SetOptions>,
                false,
            )
            .await?;
        Ok(())
    }

    /// Frees `key` after a request that accepted nothing, so the client may retry.
    pub async fn idempotency_release(&self, key: &str) -> Result<(), StoreError> {
        let _: i64 = self.client.del(idempotency_key(key)).await?;
        Ok(())
    }
}

/// One `RECORD_QUEUED_MANY` call for up to `BATCH_LIMIT` records.
fn queued_call(
    client: &Client,
    script: &Script,
    ttl_ms: u64,
    tasks: &[RecordIdentity<'_>],
) -> impl Future<Output = Result<u64, StoreError>> + use<> {
    let mut keys = Vec::with_capacity(tasks.len());
    let mut args = Vec::with_capacity(1 + tasks.len() * 3);
    args.push(ttl_ms.to_string());
    for who in tasks {
        keys.push(task_key(who.id));
        args.push(who.id.to_string());
        args.push(who.task_type.to_string());
        args.push(who.created_at.to_string());
    }
    let (client, script) = (client.clone(), script.clone());
    async move {
        let written: i64 = script.evalsha_with_reload(&client, keys, args).await?;
        Ok(written.max(0) as u64)
    }
}

async fn start_attempts(
    client: Client,
    script: Script,
    ttl_ms: u64,
    requests: Vec<AttemptRequest>,
) -> Result<Vec<AttemptStart>, StoreError> {
    let keys: Vec<String> = requests.iter().map(|r| task_key(&r.who.id)).collect();
    let mut args = Vec::with_capacity(2 + requests.len() * 4);
    args.push(now_rfc3339());
    args.push(ttl_ms.to_string());
    for request in requests {
        args.push(request.who.id);
        args.push(request.who.task_type);
        args.push(request.who.created_at);
        args.push(request.max_attempts.to_string());
    }
    let reply: Vec<String> = script.evalsha_with_reload(&client, keys, args).await?;
    Ok(reply.chunks(3).map(parse_attempt_start).collect())
}

/// One task's part of the `START_ATTEMPT_MANY` reply: status, attempts, last error.
fn parse_attempt_start(reply: &[String]) -> AttemptStart {
    let attempt = reply.get(1).and_then(|a| a.parse().ok()).unwrap_or(1);
    let last_error = reply.get(2).filter(|e| !e.is_empty()).cloned();
    match reply.first().map(String::as_str) {
        Some("exhausted") => AttemptStart::Exhausted {
            attempts: attempt,
            last_error,
        },
        status => match status.and_then(TaskStatus::parse) {
            Some(status) if status.is_terminal() => AttemptStart::AlreadyFinished(status),
            _ => AttemptStart::Started { attempt },
        },
    }
}

async fn write_outcomes(
    client: Client,
    script: Script,
    ttl_ms: u64,
    requests: Vec<OutcomeRequest>,
) -> Result<Vec<bool>, StoreError> {
    let mut keys = Vec::with_capacity(1 + requests.len());
    keys.push(STATS_KEY.to_string());
    keys.extend(requests.iter().map(|r| task_key(&r.who.id)));
    let mut args = Vec::with_capacity(2 + requests.len() * 6);
    args.push(now_rfc3339());
    args.push(ttl_ms.to_string());
    for request in requests {
        args.push(request.status.as_str().to_string());
        args.push(request.result);
        args.push(request.error);
        args.push(request.who.id);
        args.push(request.who.task_type);
        args.push(request.who.created_at);
    }
    let written: Vec<i64> = script.evalsha_with_reload(&client, keys, args).await?;
    Ok(written.into_iter().map(|w| w == 1).collect())
}

fn parse_idempotency_value(value: &str) -> IdempotencyState {
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

pub fn task_key(id: &str) -> String {
    format!("{TASK_KEY_PREFIX}{id}")
}

fn idempotency_key(key: &str) -> String {
    format!("{IDEMPOTENCY_KEY_PREFIX}{key}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn idempotency_values_round_trip() {
        assert_eq!(
            parse_idempotency_value("P|abc"),
            IdempotencyState::InFlight {
                body_hash: "abc".into()
            }
        );
        assert_eq!(
            parse_idempotency_value("D|abc|202|{\"id\":\"x|y\"}"),
            IdempotencyState::Completed {
                body_hash: "abc".into(),
                status: 202,
                body: "{\"id\":\"x|y\"}".into()
            }
        );
    }
}
