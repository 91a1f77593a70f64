//! `/healthz` (the process runs) and `/readyz` (it can do its job right now).

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use tasklane_core::readiness::{Readiness, Unready, check_valkey};

use super::json_response;
use crate::state::AppState;

pub async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_string())
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let nats = if !state.queue.is_connected() {
        Err(Unready::NotConnected)
    } else if !state.work_stream_found() {
        Err(Unready::WorkStreamMissing)
    } else {
        Ok(())
    };
    let readiness = Readiness {
        nats,
        valkey: check_valkey(&state.store).await,
        draining: state.shutdown.is_cancelled(),
    };
    let base = state.metrics.base();
    base.set_dependency("nats", readiness.nats.is_ok());
    base.set_dependency("valkey", readiness.valkey.is_ok());
    let status = if readiness.is_ready() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, readiness.body())
}
