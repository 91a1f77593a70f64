//! `/healthz` (the process runs) and `/readyz` (it can do its job right now).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::json;

use super::json_response;
use crate::state::AppState;

const CHECK_TIMEOUT: Duration = Duration::from_secs(1);

pub async fn healthz() -> Response {
    json_response(StatusCode::OK, r#"{"status":"ok"}"#.to_string())
}

pub async fn readyz(State(state): State<AppState>) -> Response {
    let nats = if !state.queue.is_connected() {
        Err("not connected".to_string())
    } else if !state.topology_ready() {
        Err("streams not set up yet".to_string())
    } else {
        Ok(())
    };
    let valkey = match tokio::time::timeout(CHECK_TIMEOUT, state.store.ping()).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("ping timed out".to_string()),
    };
    state.metrics.base().set_dependency("nats", nats.is_ok());
    state
        .metrics
        .base()
        .set_dependency("valkey", valkey.is_ok());
    let draining = state.shutdown.is_cancelled();
    let ready = nats.is_ok() && valkey.is_ok() && !draining;
    let show = |r: &Result<(), String>| match r {
        Ok(()) => "ok".to_string(),
        Err(reason) => reason.clone(),
    };
    let mut body = json!({
        "status": if ready { "ready" } else { "unavailable" },
        "checks": { "nats": show(&nats), "valkey": show(&valkey) },
    });
    if draining {
        body["reason"] = json!("shutting down");
    }
    let status = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json_response(status, body.to_string())
}
