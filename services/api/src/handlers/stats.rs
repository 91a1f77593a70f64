//! `GET /stats`: counters from Valkey, queue depth from JetStream.

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
    State(queue): State<Queue>,
) -> Result<Response, ApiError> {
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
        queue: QueueView {
            pending: depth.pending,
            in_flight: depth.in_flight,
            redelivered: depth.redelivered,
            consumers: depth.waiting_pulls,
        },
    };
    Ok(respond::json(
        StatusCode::OK,
        serde_json::to_string(&stats).expect("stats serialize"),
    ))
}
