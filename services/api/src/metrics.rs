//! The gateway's metric families (names fixed by the product contract): HTTP traffic,
//! recorded by [`track`], submissions, recorded by intake, and cancellations.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{HistogramVec, IntCounter, IntCounterVec, IntGauge};
use tasklane_core::metrics::{BaseMetrics, HTTP_BUCKETS};

/// Every metric the gateway exposes, by who records it.
pub(crate) struct ApiMetrics {
    pub(crate) base: Arc<BaseMetrics>,
    pub(crate) http: Arc<HttpMetrics>,
    pub(crate) intake: IntakeMetrics,
    /// `api_tasks_cancelled_total{previous_status}`, recorded by `cancel`.
    pub(crate) cancelled: IntCounterVec,
}

/// Requests by route and status, as [`track`] sees them.
pub(crate) struct HttpMetrics {
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGauge,
}

/// Admission lease calls by result, and the requests a lease admitted.
#[derive(Clone)]
pub(crate) struct LeaseMetrics {
    pub(crate) leases: IntCounterVec,
    pub(crate) admitted: IntCounter,
}

/// Tasks accepted and refused, and idempotent replays.
#[derive(Clone)]
pub(crate) struct IntakeMetrics {
    pub(crate) submitted: IntCounterVec,
    pub(crate) scheduled: IntCounterVec,
    pub(crate) publish_errors: IntCounter,
    pub(crate) idempotent_replays: IntCounter,
    pub(crate) redriven: IntCounter,
    pub(crate) leases: LeaseMetrics,
}

impl ApiMetrics {
    pub(crate) fn new() -> Self {
        let base = BaseMetrics::new("api");
        let http = HttpMetrics {
            requests: base.counter_vec(
                "api_http_requests_total",
                "HTTP requests by method, matched route and status",
                &["method", "route", "status"],
            ),
            duration: base.histogram_vec(
                "api_http_request_duration_seconds",
                "HTTP request latency",
                &["method", "route"],
                HTTP_BUCKETS,
            ),
            in_flight: base.int_gauge("api_http_requests_in_flight", "HTTP requests being handled"),
        };
        let intake = IntakeMetrics {
            submitted: base.counter_vec(
                "api_tasks_submitted_total",
                "Tasks accepted (PubAck received) by type",
                &["type"],
            ),
            scheduled: base.counter_vec(
                "api_tasks_scheduled_total",
                "Tasks accepted to start later (published as a JetStream schedule) by type",
                &["type"],
            ),
            publish_errors: base.counter(
                "api_tasks_publish_errors_total",
                "Tasks that could not be published (answered 503)",
            ),
            idempotent_replays: base.counter(
                "api_idempotent_replays_total",
                "Requests answered from a stored idempotent response",
            ),
            redriven: base.counter(
                "api_dead_letters_redriven_total",
                "Dead tasks re-driven as new tasks (PubAck received)",
            ),
            leases: LeaseMetrics {
                leases: {
                    let leases = base.counter_vec(
                        "api_admission_leases_total",
                        "Admission lease calls by result (granted, refused, failed) and leases given back (returned)",
                        &["result"],
                    );
                    // Every result from the start, at 0, so rates of each exist
                    // before its first occurrence.
                    for result in ["granted", "refused", "failed", "returned"] {
                        leases.with_label_values(&[result]);
                    }
                    leases
                },
                admitted: base.counter(
                    "api_lease_admissions_total",
                    "Requests admitted from this gateway's admission lease, without a Valkey call",
                ),
            },
        };
        let cancelled = base.counter_vec(
            "api_tasks_cancelled_total",
            "Tasks cancelled, by the status they had (queued, running)",
            &["previous_status"],
        );
        Self {
            base: Arc::new(base),
            http: Arc::new(http),
            intake,
            cancelled,
        }
    }
}

/// Records every request under its matched route template, never the raw path, so a
/// scan of random URLs cannot blow up the series count.
pub(crate) async fn track(
    State(metrics): State<Arc<HttpMetrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = method_label(request.method());
    metrics.in_flight.inc();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics.in_flight.dec();
    metrics
        .duration
        .with_label_values(&[method, route.as_str()])
        .observe(started.elapsed().as_secs_f64());
    metrics
        .requests
        .with_label_values(&[method, route.as_str(), response.status().as_str()])
        .inc();
    response
}

/// The method as a label: the standard ones by name, anything a client invents as
/// `OTHER`, so no client can create new series.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::DELETE => "DELETE",
        Method::PATCH => "PATCH",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "OTHER",
    }
}
