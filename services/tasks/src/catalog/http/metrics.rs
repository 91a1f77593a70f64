//! The `http` type's metric families. Labels are bounded: a status class and an
//! outcome, never a URL or a host.

use prometheus::{Histogram, IntCounter, IntCounterVec, IntGauge};
use tasklane_core::metrics::{BaseMetrics, DURATION_BUCKETS};

/// Status classes and outcomes a request is counted under; every pair that can
/// occur is created at start so the families are exposed before the first task.
const SERIES: &[(&str, &str)] = &[
    ("2xx", "succeeded"),
    ("3xx", "failed"),
    ("4xx", "failed"),
    ("4xx", "retried"),
    ("5xx", "retried"),
    ("5xx", "failed"),
    ("1xx", "failed"),
    ("none", "retried"),
    ("none", "forbidden"),
];

/// Circuit states a transition is counted under.
const STATES: &[&str] = &["open", "half_open", "closed"];

/// The `http` type's metric handles; one set per worker, shared by its tasks.
#[derive(Clone)]
pub struct HttpMetrics {
    pub(super) requests: IntCounterVec,
    pub(super) duration: Histogram,
    pub(super) deferred: IntCounter,
    pub(super) circuit_transitions: IntCounterVec,
    pub(super) circuits_open: IntGauge,
}

impl HttpMetrics {
    /// The families, registered with a worker's metrics.
    pub fn register(base: &BaseMetrics) -> Self {
        let requests = base.counter_vec(
            "worker_http_requests_total",
            "http task requests by status class (none: no answer) and outcome (succeeded, retried, failed, forbidden)",
            &["status_class", "outcome"],
        );
        for (class, outcome) in SERIES {
            requests.with_label_values(&[class, outcome]);
        }
        let circuit_transitions = base.counter_vec(
            "worker_http_circuit_transitions_total",
            "Per-host circuit breaker state changes, by the state entered",
            &["state"],
        );
        for state in STATES {
            circuit_transitions.with_label_values(&[state]);
        }
        Self {
            requests,
            duration: base
                .histogram_vec(
                    "worker_http_request_duration_seconds",
                    "http task request time, from sending to the end of the kept body",
                    &[],
                    DURATION_BUCKETS,
                )
                .with_label_values::<&str>(&[]),
            deferred: base.counter(
                "worker_http_deferred_total",
                "http tasks put back without an attempt because their host's circuit was open",
            ),
            circuit_transitions,
            circuits_open: base.int_gauge(
                "worker_http_circuits_open",
                "Hosts whose circuit is open or half-open on this worker",
            ),
        }
    }

    /// Families on a registry nobody reads: for a handler that only checks payloads.
    pub fn unregistered() -> Self {
        Self::register(&BaseMetrics::new("unused"))
    }

    /// Counts one request by the class of `status` (`None`: no answer).
    pub fn count(&self, status: Option<u16>, outcome: &str) {
        let class = match status {
            None => "none",
            Some(100..=199) => "1xx",
            Some(200..=299) => "2xx",
            Some(300..=399) => "3xx",
            Some(400..=499) => "4xx",
            Some(_) => "5xx",
        };
        self.requests.with_label_values(&[class, outcome]).inc();
    }
}
