//! `GET /stats`: counters from Valkey, queue depth from JetStream, fetched at most
//! once a second whatever the number of callers.

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;
use tasklane_core::queue::Queue;
use tasklane_core::store::{Store, StoreError};

use crate::error::{ApiError, Cause};
use crate::respond;

/// Counters from Valkey and the queue's depth from JetStream.
#[derive(Serialize, utoipa::ToSchema)]
struct Stats {
    /// Keys in the Valkey database.
    valkey_keys_count: u64,
    /// Tasks waiting in JetStream: pending plus in flight.
    queue_backlog_length: u64,
    /// Tasks that finished (succeeded, failed or dead), each counted once.
    worker_processed_count: u64,
    /// Tasks that succeeded.
    worker_succeeded_count: u64,
    /// Tasks that failed for good.
    worker_failed_count: u64,
    /// Tasks dead-lettered.
    dead_letter_count: u64,
    /// Tasks cancelled before they finished (`DELETE /task/{id}`); not part of
    /// `worker_processed_count`.
    cancelled_count: u64,
    queue: QueueView,
}

/// The work consumer's state.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = QueueDepth)]
struct QueueView {
    /// Messages no worker has been given yet.
    pending: u64,
    /// Messages given to a worker and not yet acknowledged (buffered, running, or
    /// waiting for a delayed retry).
    in_flight: u64,
    /// Messages delivered more than once.
    redelivered: u64,
    /// Pull requests waiting at the consumer (not workers: 0 when every worker is busy).
    consumers: u64,
}

/// How long one answer is given to every caller. A flood of `/stats` would
/// otherwise turn into as many DBSIZE calls and JetStream API requests.
const STATS_FRESH: Duration = Duration::from_secs(1);

/// The last `/stats` body and when it was fetched. Callers that find it stale queue
/// on the lock while one of them fetches, then take that fetch's answer.
#[derive(Default)]
pub(crate) struct StatsCache {
    latest: tokio::sync::Mutex<Option<(Instant, String)>>,
}

/// Queue statistics.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "admin",
    operation_id = "stats",
    responses((status = 200, description = "Counters and queue depth", body = Stats)),
    security(("api_key" = ["admin"]), ("jwt" = ["admin"])),
)]
pub(crate) async fn stats(
    State(store): State<Store>,
    State(queue): State<Arc<Queue>>,
    State(cache): State<Arc<StatsCache>>,
) -> Result<Response, ApiError> {
    let mut latest = cache.latest.lock().await;
    let body = match latest.as_ref() {
        Some((fetched, body)) if fetched.elapsed() < STATS_FRESH => body.clone(),
        _ => {
            let body = fetch(&store, &queue).await?;
            *latest = Some((Instant::now(), body.clone()));
            body
        }
    };
    drop(latest);
    Ok(respond::json(StatusCode::OK, body))
}

/// The figures, rendered; an unavailable dependency is the caller's 503, not cached.
async fn fetch(store: &Store, queue: &Queue) -> Result<String, ApiError> {
    let (counters, keys, depth) = tokio::join!(store.counters(), store.key_count(), queue.depth());
    let store_down = |e: StoreError| {
        ApiError::store_unavailable().caused_by(Cause::new("stats: valkey unavailable", e))
    };
    let counters = counters.map_err(store_down)?;
    let keys = keys.map_err(store_down)?;
    let depth = depth.map_err(|e| {
        ApiError::queue_unavailable().caused_by(Cause::new("stats: queue unavailable", e))
    })?;
    let stats = Stats {
        valkey_keys_count: keys,
        queue_backlog_length: depth.backlog(),
        worker_processed_count: counters.processed,
        worker_succeeded_count: counters.succeeded,
        worker_failed_count: counters.failed,
        dead_letter_count: counters.dead,
        cancelled_count: counters.cancelled,
        queue: QueueView {
            pending: depth.pending,
            in_flight: depth.in_flight,
            redelivered: depth.redelivered,
            consumers: depth.waiting_pulls,
        },
    };
    Ok(serde_json::to_string(&stats).expect("stats serialize"))
}
