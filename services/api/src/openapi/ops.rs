//! The operational routes, served by `tasklane_core::ops` (probes, metrics) and by
//! this module (`/openapi.json`). Their bodies are built there as JSON values; the
//! types here describe them, and the contract check validates the live answers
//! against them.
#![allow(dead_code)] // the functions and types exist for their annotations only

use utoipa::ToSchema;
use utoipa::openapi::schema::Schema;

use super::schemas::string_enum;

/// `/healthz`: the process runs.
#[derive(ToSchema)]
pub(super) struct Health {
    /// Always `ok`.
    #[schema(schema_with = ok)]
    status: String,
}

fn ok() -> Schema {
    string_enum(&["ok"]).build().into()
}

/// `/readyz`: whether the gateway can take tasks now.
#[derive(ToSchema)]
pub(super) struct Readiness {
    /// `ready`, or `unavailable` when a check fails or the gateway is draining.
    #[schema(schema_with = readiness_status)]
    status: String,
    checks: Checks,
    /// `shutting down` while the gateway drains.
    #[schema(required = false)]
    reason: String,
}

fn readiness_status() -> Schema {
    string_enum(&["ready", "unavailable"]).build().into()
}

/// Each dependency: `ok`, or why it is not (never an error text that could name
/// hosts or users).
#[derive(ToSchema)]
pub(super) struct Checks {
    nats: String,
    valkey: String,
}

/// Liveness.
#[utoipa::path(
    get,
    path = "/healthz",
    tag = "ops",
    responses((status = 200, description = "The process runs", body = Health))
)]
pub(super) fn healthz() {}

/// Readiness: NATS connected and the work stream present, Valkey answering, not
/// draining.
#[utoipa::path(
    get,
    path = "/readyz",
    tag = "ops",
    responses(
        (status = 200, description = "Ready to take tasks", body = Readiness),
        (status = 503, description = "Not ready: a dependency is down, or the gateway is draining", body = Readiness),
    )
)]
pub(super) fn readyz() {}

/// Prometheus metrics.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "ops",
    responses((
        status = 200,
        description = "The Prometheus text exposition format, version 0.0.4",
        body = String,
        content_type = "text/plain; version=0.0.4; charset=utf-8"
    ))
)]
pub(super) fn metrics() {}

/// This description.
#[utoipa::path(
    get,
    path = "/openapi.json",
    tag = "ops",
    responses((
        status = 200,
        description = "The OpenAPI 3.1 description of this API (docs/openapi.json)",
        body = serde_json::Value,
        content_type = "application/json"
    ))
)]
pub(super) fn openapi_json() {}
