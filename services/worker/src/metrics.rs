//! The worker's metric families (names fixed by the product contract).

use std::sync::Arc;

use prometheus::{Gauge, HistogramVec, IntCounter, IntCounterVec, IntGauge};
use tasklane_core::metrics::{BaseMetrics, DURATION_BUCKETS};
use tasklane_tasks::HttpMetrics;

#[derive(Clone)]
pub struct WorkerMetrics {
    base: Arc<BaseMetrics>,
    pub processed: IntCounterVec,
    pub errors: IntCounterVec,
    pub duration: HistogramVec,
    pub in_flight: IntGauge,
    pub retried: IntCounterVec,
    pub dead_lettered: IntCounterVec,
    pub redelivered: IntCounterVec,
    pub queue_wait: HistogramVec,
    pub backlog: IntGauge,
    pub oldest_task_age: Gauge,
    pub store_errors: IntCounter,
    pub cancelled: IntCounterVec,
    /// The `http` task type's families.
    pub http: HttpMetrics,
}

impl WorkerMetrics {
    pub fn new() -> Self {
        let base = BaseMetrics::new("worker");
        let by_type = |name: &str, help: &str| base.counter_vec(name, help, &["type"]);
        let timing =
            |name: &str, help: &str| base.histogram_vec(name, help, &["type"], DURATION_BUCKETS);
        Self {
            processed: base.counter_vec(
                "worker_tasks_processed_total",
                "Tasks finished, once per task, by outcome (succeeded, failed, dead)",
                &["type", "outcome"],
            ),
            errors: by_type(
                "worker_tasks_errors_total",
                "Failed attempts (errors, timeouts, panics)",
            ),
            retried: by_type(
                "worker_tasks_retried_total",
                "Attempts handed back for a delayed retry",
            ),
            dead_lettered: by_type(
                "worker_tasks_dead_lettered_total",
                "Tasks copied to the dead-letter stream",
            ),
            redelivered: by_type(
                "worker_tasks_redelivered_total",
                "Deliveries of a task that had been delivered before",
            ),
            duration: timing(
                "worker_task_duration_seconds",
                "Handler run time per attempt",
            ),
            queue_wait: timing(
                "worker_queue_wait_seconds",
                "Time from publish to the start of an attempt",
            ),
            in_flight: base.int_gauge(
                "worker_tasks_in_flight",
                "Tasks being processed by this worker",
            ),
            backlog: base.int_gauge(
                "worker_queue_backlog",
                "Tasks accepted and not yet acknowledged (consumer pending + in flight)",
            ),
            oldest_task_age: base.gauge(
                "worker_queue_oldest_task_age_seconds",
                "Age of the oldest unacknowledged task in the work stream",
            ),
            store_errors: base.counter(
                "worker_store_errors_total",
                "Failed Valkey writes (the task is held, not acknowledged, and retried)",
            ),
            cancelled: by_type(
                "worker_tasks_cancelled_total",
                "Cancelled tasks let go of: deliveries acknowledged without running, and running handlers stopped",
            ),
            http: HttpMetrics::register(&base),
            base: Arc::new(base),
        }
    }

    /// The registry and the metrics both binaries share.
    pub fn base(&self) -> &Arc<BaseMetrics> {
        &self.base
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
