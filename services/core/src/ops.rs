//! The operational endpoints both binaries serve, the same way: `/healthz` (the
//! process runs), `/readyz` (it can do its job right now) and `/metrics`.

use std::future::Future;
use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::metrics::BaseMetrics;
use crate::readiness::Readiness;

/// The operational routes' paths: liveness, readiness, metrics.
pub const PATHS: [&str; 3] = ["/healthz", "/readyz", "/metrics"];

/// How a binary answers `/readyz`.
pub trait ReadinessCheck: Clone + Send + Sync + 'static {
    /// Checks the dependencies and whether the binary is draining.
    fn check(&self) -> impl Future<Output = Readiness> + Send;
}

#[derive(Clone)]
struct Ops<C> {
    readiness: C,
    metrics: Arc<BaseMetrics>,
}

/// The three routes. Each `/readyz` answer also updates `tasklane_dependency_up`.
pub fn router<C: ReadinessCheck>(readiness: C, metrics: Arc<BaseMetrics>) -> Router {
    Router::new()
        .route(PATHS[0], get(healthz))
        .route(PATHS[1], get(readyz::<C>))
        .route(PATHS[2], get(metrics_text::<C>))
        .with_state(Ops { readiness, metrics })
}

async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

async fn readyz<C: ReadinessCheck>(State(ops): State<Ops<C>>) -> Response {
    let readiness = ops.readiness.check().await;
    ops.metrics.set_dependency("nats", readiness.nats.is_ok());
    ops.metrics
        .set_dependency("valkey", readiness.valkey.is_ok());
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, Json(readiness.body())).into_response()
}

async fn metrics_text<C: ReadinessCheck>(State(ops): State<Ops<C>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        ops.metrics.encode(),
    )
        .into_response()
}
