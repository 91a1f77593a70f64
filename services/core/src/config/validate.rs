//! Rules that span more than one key, and combinations worth a warning.

use std::time::Duration;

use super::error::{ConfigError, env_var_for};
use super::settings::Settings;
use crate::task::{MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT_MS};

impl Settings {
    /// Rules that span more than one key, checked once so a bad combination never
    /// reaches a running worker.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_string(),
            env: env_var_for(key),
            reason,
        };
        if self.nats.url.split(',').all(|u| u.trim().is_empty()) {
            return Err(invalid("nats.url", "must name at least one server".into()));
        }
        let valkey = self.valkey.url.expose();
        if !(valkey.starts_with("redis://")
            || valkey.starts_with("rediss://")
            || valkey.starts_with("valkey://")
            || valkey.starts_with("valkeys://"))
        {
            return Err(invalid(
                "valkey.url",
                "must start with redis://, rediss://, valkey:// or valkeys://".into(),
            ));
        }
        if self.nats.user.is_some() != self.nats.password.is_some() {
            return Err(invalid(
                "nats.user",
                "nats.user and nats.password must be set together".into(),
            ));
        }
        if self.nats.tls.cert_file.is_some() != self.nats.tls.key_file.is_some() {
            return Err(invalid(
                "nats.tls.cert_file",
                "nats.tls.cert_file and nats.tls.key_file must be set together".into(),
            ));
        }
        if let Some(endpoint) = &self.telemetry.otlp_endpoint
            && !endpoint.is_empty()
            && !endpoint.starts_with("http://")
        {
            // The exporter is built without TLS: a collector beside the pods takes
            // plain OTLP/HTTP, and an https:// URL would fail only at the first export.
            return Err(invalid(
                "telemetry.otlp_endpoint",
                "must start with http:// (OTLP/HTTP without TLS)".into(),
            ));
        }
        if self.stream.name.is_empty()
            || !self
                .stream
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(invalid(
                "stream.name",
                "must be letters, digits, '_' or '-'".into(),
            ));
        }
        if !(1..=5).contains(&self.stream.replicas) {
            return Err(invalid("stream.replicas", "must be 1 to 5".into()));
        }
        if self.stream.duplicate_window.is_zero() {
            return Err(invalid("stream.duplicate_window", "must be above 0".into()));
        }
        if self.results.ttl < Duration::from_secs(1) {
            return Err(invalid("results.ttl", "must be at least 1s".into()));
        }
        if self.api.max_body_bytes < 64 {
            return Err(invalid("api.max_body_bytes", "must be at least 64".into()));
        }
        if !(1..=10_000).contains(&self.api.max_batch) {
            return Err(invalid("api.max_batch", "must be 1 to 10000".into()));
        }
        if self.api.max_in_flight == 0 {
            return Err(invalid("api.max_in_flight", "must be at least 1".into()));
        }
        if self.api.request_timeout <= self.api.publish_timeout {
            return Err(invalid(
                "api.request_timeout",
                "must be longer than api.publish_timeout".into(),
            ));
        }
        let w = &self.worker;
        if !(1..=10_000).contains(&w.concurrency) {
            return Err(invalid("worker.concurrency", "must be 1 to 10000".into()));
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&w.max_attempts) {
            return Err(invalid(
                "worker.max_attempts",
                format!("must be 1 to {}", MAX_ATTEMPTS_LIMIT),
            ));
        }
        if w.retry_base_delay.is_zero() || w.retry_base_delay > w.retry_max_delay {
            return Err(invalid(
                "worker.retry_base_delay",
                "must be above 0 and at most worker.retry_max_delay".into(),
            ));
        }
        // Progress acks are sent every third of ack_wait; below 1s they would flood NATS.
        if w.ack_wait < Duration::from_secs(1) {
            return Err(invalid("worker.ack_wait", "must be at least 1s".into()));
        }
        if w.task_timeout.is_zero() || w.task_timeout > Duration::from_millis(MAX_TIMEOUT_MS) {
            return Err(invalid(
                "worker.task_timeout",
                "must be above 0 and at most 1h".into(),
            ));
        }
        if w.shutdown_grace.is_zero() {
            return Err(invalid("worker.shutdown_grace", "must be above 0".into()));
        }
        Ok(())
    }

    /// Non-fatal combinations worth a warning at start-up.
    pub fn warnings(&self) -> Vec<String> {
        let mut warnings = Vec::new();
        if self.worker.shutdown_grace > Duration::from_secs(25) {
            warnings.push(format!(
                "worker.shutdown_grace is {}: the pod's terminationGracePeriodSeconds must be longer or in-flight tasks are killed mid-drain",
                humantime::format_duration(self.worker.shutdown_grace)
            ));
        }
        if self.stream.replicas == 1 {
            warnings.push(
                "stream.replicas is 1: a lost NATS node loses queued tasks; use 3 in production"
                    .into(),
            );
        }
        warnings
    }
}
