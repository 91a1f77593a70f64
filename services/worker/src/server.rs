//! The worker's operational HTTP endpoints: `/healthz`, `/readyz`, `/metrics`.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tasklane_core::readiness::{Readiness, Unready, check_valkey};
use tokio_util::sync::CancellationToken;

use crate::context::WorkerContext;

#[derive(Clone)]
pub struct ServerState {
    pub ctx: Arc<WorkerContext>,
    /// The consumer is bound and pulling.
    pub pulling: Arc<AtomicBool>,
    pub shutdown: CancellationToken,
}

pub fn router(state: ServerState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/metrics", get(metrics))
        .fallback(|| async { problem(StatusCode::NOT_FOUND, "Not found", "no such endpoint") })
        .with_state(state)
}

fn problem(status: StatusCode, title: &str, detail: &str) -> Response {
    (
        status,
        [(header::CONTENT_TYPE, "application/problem+json")],
        json!({"type": "about:blank", "title": title, "status": status.as_u16(), "detail": detail})
            .to_string(),
    )
        .into_response()
}

async fn healthz() -> Response {
    (
        [(header::CONTENT_TYPE, "application/json")],
        r#"{"status":"ok"}"#,
    )
        .into_response()
}

async fn readyz(State(state): State<ServerState>) -> Response {
    let nats = if !state.ctx.queue.is_connected() {
        Err(Unready::NotConnected)
    } else if !state.pulling.load(Ordering::Acquire) {
        Err(Unready::ConsumerNotBound)
    } else {
        Ok(())
    };
    let readiness = Readiness {
        nats,
        valkey: check_valkey(&state.ctx.store).await,
        draining: state.shutdown.is_cancelled(),
    };
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        readiness.body(),
    )
        .into_response()
}

async fn metrics(State(state): State<ServerState>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        state.ctx.metrics.base().encode(),
    )
        .into_response()
}

/// Refreshes the gauges that come from outside the process (queue depth, dependency
/// health) so dashboards and autoscalers see them without a request to `/stats`.
pub async fn refresh_gauges(ctx: Arc<WorkerContext>, shutdown: CancellationToken, every: Duration) {
    loop {
        let nats_up = ctx.queue.is_connected();
        ctx.metrics.base().set_dependency("nats", nats_up);
        let valkey_up = check_valkey(&ctx.store).await.is_ok();
        ctx.metrics.base().set_dependency("valkey", valkey_up);
        if nats_up {
            if let Ok(depth) = ctx.queue.depth().await {
                ctx.metrics.backlog.set(depth.backlog() as i64);
                ctx.metrics.oldest_task_age.set(depth.oldest_age_seconds);
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
