//! Prometheus registry helpers shared by both binaries: process metrics, build info,
//! dependency health, and the text exposition.

use prometheus::{Encoder, IntGauge, IntGaugeVec, Opts, Registry, TextEncoder};

/// A registry with the metrics every tasklane binary exposes.
pub struct BaseMetrics {
    pub registry: Registry,
    pub dependency_up: IntGaugeVec,
}

impl BaseMetrics {
    pub fn new(component: &str) -> Self {
        let registry = Registry::new();
        #[cfg(target_os = "linux")]
        registry
            .register(Box::new(
                prometheus::process_collector::ProcessCollector::for_self(),
            ))
            .expect("process collector registers once");
        let build_info = IntGauge::with_opts(
            Opts::new(
                "tasklane_build_info",
                "Version of the running binary; always 1",
            )
            .const_label("component", component)
            .const_label("version", env!("CARGO_PKG_VERSION")),
        )
        .expect("valid metric");
        build_info.set(1);
        registry
            .register(Box::new(build_info))
            .expect("registers once");
        let dependency_up = IntGaugeVec::new(
            Opts::new(
                "tasklane_dependency_up",
                "1 when the last check of a dependency (nats, valkey) succeeded",
            ),
            &["dependency"],
        )
        .expect("valid metric");
        registry
            .register(Box::new(dependency_up.clone()))
            .expect("registers once");
        for dep in ["nats", "valkey"] {
            dependency_up.with_label_values(&[dep]).set(0);
        }
        Self {
            registry,
            dependency_up,
        }
    }

    pub fn register<M: prometheus::core::Collector + Clone + 'static>(&self, metric: &M) {
        self.registry
            .register(Box::new(metric.clone()))
            .expect("each metric registers once");
    }

    pub fn set_dependency(&self, dependency: &str, up: bool) {
        self.dependency_up
            .with_label_values(&[dependency])
            .set(i64::from(up));
    }

    pub fn encode(&self) -> String {
        let mut out = Vec::with_capacity(16 * 1024);
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding into a Vec cannot fail");
        String::from_utf8(out).unwrap_or_default()
    }
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
