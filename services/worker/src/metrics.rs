//! The worker's metric families (names fixed by the product contract).

use std::sync::Arc;

use prometheus::{Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, Opts};
use tasklane_core::metrics::{BaseMetrics, DURATION_BUCKETS};

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
}

impl WorkerMetrics {
    pub fn new() -> Self {
        let base = BaseMetrics::new("worker");
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).expect("valid metric");
            base.register(&c);
            c
        };
        let histogram = |name: &str, help: &str| {
            let h = HistogramVec::new(
                HistogramOpts::new(name, help).buckets(DURATION_BUCKETS.to_vec()),
                &["type"],
            )
            .expect("valid metric");
            base.register(&h);
            h
        };
        let processed = counter(
            "worker_tasks_processed_total",
            "Tasks finished, once per task, by outcome (succeeded, failed, dead)",
            &["type", "outcome"],
        );
        let errors = counter(
            "worker_tasks_errors_total",
            "Failed attempts (errors, timeouts, panics)",
            &["type"],
        );
        let retried = counter(
            "worker_tasks_retried_total",
            "Attempts handed back for a delayed retry",
            &["type"],
        );
        let dead_lettered = counter(
            "worker_tasks_dead_lettered_total",
            "Tasks copied to the dead-letter stream",
            &["type"],
        );
        let redelivered = counter(
            "worker_tasks_redelivered_total",
            "Deliveries of a task that had been delivered before",
            &["type"],
        );
        let duration = histogram(
            "worker_task_duration_seconds",
            "Handler run time per attempt",
        );
        let queue_wait = histogram(
            "worker_queue_wait_seconds",
            "Time from publish to the start of an attempt",
        );
        let in_flight = IntGauge::new(
            "worker_tasks_in_flight",
            "Tasks being processed by this worker",
        )
        .expect("valid metric");
        let backlog = IntGauge::new(
            "worker_queue_backlog",
            "Tasks accepted and not yet acknowledged (consumer pending + in flight)",
        )
        .expect("valid metric");
        let oldest_task_age = Gauge::new(
            "worker_queue_oldest_task_age_seconds",
            "Age of the oldest unacknowledged task in the work stream",
        )
        .expect("valid metric");
        let store_errors = IntCounter::new(
            "worker_store_errors_total",
            "Failed Valkey writes (the task is held, not acknowledged, and retried)",
        )
        .expect("valid metric");
        base.register(&in_flight);
        base.register(&backlog);
        base.register(&oldest_task_age);
        base.register(&store_errors);
        Self {
            base: Arc::new(base),
            processed,
            errors,
            duration,
            in_flight,
            retried,
            dead_lettered,
            redelivered,
            queue_wait,
            backlog,
            oldest_task_age,
            store_errors,
        }
    }

    pub fn base(&self) -> &BaseMetrics {
        &self.base
    }
}

impl Default for WorkerMetrics {
    fn default() -> Self {
        Self::new()
    }
}
