//! `GET /stats`: counters from Valkey, queue depth from JetStream.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde::Serialize;

use super::json_response;
use crate::error::ApiError;
use crate::state::AppState;

#[derive(Serialize)]
struct Stats {
    valkey_keys_count: u64,
    queue_backlog_length: u64,
    worker_processed_count: u64,
    worker_succeeded_count: u64,
    worker_failed_count: u64,
    dead_letter_count: u64,
    queue: QueueView,
}

#[derive(Serialize)]
struct QueueView {
    pending: u64,
    in_flight: u64,
    redelivered: u64,
    consumers: u64,
}

pub async fn stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    let (counters, keys, depth) = tokio::join!(
        state.store.counters(),
        state.store.key_count(),
        state.queue.depth()
    );
    let store_down = |e: &dyn std::fmt::Display| {
        tracing::warn!(error = %e, "stats: valkey unavailable");
        ApiError::store_unavailable()
    };
    let counters = counters.map_err(|e| store_down(&e))?;
    let keys = keys.map_err(|e| store_down(&e))?;
    let depth = depth.map_err(|e| {
        tracing::warn!(error = %e, "stats: queue unavailable");
        ApiError::queue_unavailable()
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
    Ok(json_response(
        StatusCode::OK,
        serde_json::to_string(&stats).expect("stats serialize"),
    ))
}
