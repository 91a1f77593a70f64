//! Prometheus registry helpers shared by both binaries: process metrics, build info,
//! dependency health, the text exposition, and one way to declare a metric family
//! (create and register in one call).

use prometheus::core::Collector;
use prometheus::{
    Encoder, Gauge, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec,
    Opts, Registry, TextEncoder,
};

/// A registry with the metrics every tasklane binary exposes; each binary declares
/// its own families on it.
pub struct BaseMetrics {
    registry: Registry,
    dependency_up: IntGaugeVec,
}

impl BaseMetrics {
    /// The registry of `component` (`api` or `worker`), with process metrics,
    /// `tasklane_build_info` and `tasklane_dependency_up`.
    pub fn new(component: &str) -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");
        let build_info = register(
            &registry,
            IntGauge::with_opts(
                Opts::new(
                    "tasklane_build_info",
                    "Version of the running binary; always 1",
                )
                .const_label("component", component)
                .const_label("version", env!("CARGO_PKG_VERSION")),
            ),
        );
        build_info.set(1);
        let dependency_up = register(
            &registry,
            IntGaugeVec::new(
                Opts::new(
                    "tasklane_dependency_up",
                    "1 when the last check of a dependency (nats, valkey) succeeded",
                ),
                &["dependency"],
            ),
        );
        for dep in ["nats", "valkey"] {
            dependency_up.with_label_values(&[dep]).set(0);
        }
        Self {
            registry,
            dependency_up,
        }
    }

    /// A counter.
    pub fn counter(&self, name: &str, help: &str) -> IntCounter {
        register(&self.registry, IntCounter::with_opts(Opts::new(name, help)))
    }

    /// A counter family with `labels`.
    pub fn counter_vec(&self, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
        register(
            &self.registry,
            IntCounterVec::new(Opts::new(name, help), labels),
        )
    }

    /// An integer gauge.
    pub fn int_gauge(&self, name: &str, help: &str) -> IntGauge {
        register(&self.registry, IntGauge::with_opts(Opts::new(name, help)))
    }

    /// A floating-point gauge.
    pub fn gauge(&self, name: &str, help: &str) -> Gauge {
        register(&self.registry, Gauge::with_opts(Opts::new(name, help)))
    }

    /// A histogram family with `labels` and `buckets` (upper bounds, in seconds).
    pub fn histogram_vec(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: &[f64],
    ) -> HistogramVec {
        let opts = HistogramOpts::new(name, help).buckets(buckets.to_vec());
        register(&self.registry, HistogramVec::new(opts, labels))
    }

    /// Records the outcome of the last check of `dependency` (`nats` or `valkey`).
    pub fn set_dependency(&self, dependency: &str, up: bool) {
        self.dependency_up
            .with_label_values(&[dependency])
            .set(i64::from(up));
    }

    /// Every metric in the Prometheus text format.
    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).unwrap_or_default()
    }
}

/// Registers a new family; names and label sets are constants, so a failure is a bug
/// that must stop start-up.
fn register<M: Collector + Clone + 'static>(
    registry: &Registry,
    metric: prometheus::Result<M>,
) -> M {
    let metric = metric.expect("a valid metric definition");
    registry
        .register(Box::new(metric.clone()))
        .expect("each metric registers once");
    metric
}

/// Buckets for durations from a millisecond to ten minutes.
pub const DURATION_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
    120.0, 300.0, 600.0,
];

/// Buckets for HTTP latencies, finer at the low end where the gateway lives.
pub const HTTP_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
];
