//! Rules that span more than one key, and combinations worth a warning.

use std::time::Duration;

use super::error::{ConfigError, env_var_for};
use super::settings::{AuthMode, Settings};
use crate::task::{MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT_MS, TaskType};

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
        if self.nats.ping_interval < Duration::from_millis(100) {
            return Err(invalid(
                "nats.ping_interval",
                "must be at least 100ms".into(),
            ));
        }
        if self.valkey.sentinels.is_some() && self.valkey.sentinel_addrs().is_none() {
            return Err(invalid(
                "valkey.sentinels",
                "must be host:port entries separated by commas".into(),
            ));
        }
        if self.valkey.min_replicas_ack > 16 {
            return Err(invalid("valkey.min_replicas_ack", "must be 0 to 16".into()));
        }
        if self.valkey.replica_ack_timeout.is_zero()
            || self.valkey.replica_ack_timeout > Duration::from_secs(60)
        {
            return Err(invalid(
                "valkey.replica_ack_timeout",
                "must be above 0 and at most 60s".into(),
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
        let valkey_tls = &self.valkey.tls;
        if valkey_tls.cert_file.is_some() != valkey_tls.key_file.is_some() {
            return Err(invalid(
                "valkey.tls.cert_file",
                "valkey.tls.cert_file and valkey.tls.key_file must be set together".into(),
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
        if self.dlq.max_age.is_zero() {
            return Err(invalid("dlq.max_age", "must be above 0".into()));
        }
        let limits = &self.limits;
        if limits.max_timeout.is_zero()
            || limits.max_timeout > Duration::from_millis(MAX_TIMEOUT_MS)
        {
            return Err(invalid(
                "limits.max_timeout",
                "must be above 0 and at most 1h".into(),
            ));
        }
        if !(1..=MAX_ATTEMPTS_LIMIT).contains(&limits.max_attempts) {
            return Err(invalid(
                "limits.max_attempts",
                format!("must be 1 to {MAX_ATTEMPTS_LIMIT}"),
            ));
        }
        if let Some(enabled) = &self.tasks.enabled {
            if enabled.is_empty() {
                return Err(invalid(
                    "tasks.enabled",
                    "must name at least one type".into(),
                ));
            }
            if let Some(bad) = enabled.iter().find(|t| TaskType::parse(t).is_err()) {
                return Err(invalid(
                    "tasks.enabled",
                    format!("`{bad}` is not a task type name"),
                ));
            }
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
        // An idempotency key whose publish outcome is unknown is resumed by a retry
        // that publishes the same message id again; that is harmless only within the
        // duplicate window, and a key is held in flight for twice the request timeout.
        if self.stream.duplicate_window <= self.api.request_timeout * 2 {
            return Err(invalid(
                "stream.duplicate_window",
                "must be longer than twice api.request_timeout".into(),
            ));
        }
        // One request's reservation is taken at once, so the budget must hold the
        // largest body; permits are counted in u32 per acquisition.
        if self.api.max_body_bytes > u32::MAX as usize {
            return Err(invalid("api.max_body_bytes", "must be below 4 GiB".into()));
        }
        if self.api.max_in_flight_body_bytes < self.api.max_body_bytes {
            return Err(invalid(
                "api.max_in_flight_body_bytes",
                "must be at least api.max_body_bytes".into(),
            ));
        }
        if self.api.header_timeout < Duration::from_secs(1) {
            return Err(invalid("api.header_timeout", "must be at least 1s".into()));
        }
        if self.api.max_connections == 0 {
            return Err(invalid("api.max_connections", "must be at least 1".into()));
        }
        if self.api.request_timeout <= self.api.publish_timeout {
            return Err(invalid(
                "api.request_timeout",
                "must be longer than api.publish_timeout".into(),
            ));
        }
        self.validate_auth()?;
        self.validate_http()?;
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
        if w.max_attempts > limits.max_attempts {
            return Err(invalid(
                "worker.max_attempts",
                "must be at most limits.max_attempts".into(),
            ));
        }
        if w.task_timeout > limits.max_timeout {
            return Err(invalid(
                "worker.task_timeout",
                "must be at most limits.max_timeout".into(),
            ));
        }
        if w.shutdown_grace.is_zero() {
            return Err(invalid("worker.shutdown_grace", "must be above 0".into()));
        }
        Ok(())
    }

    fn validate_auth(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: &str| ConfigError::Invalid {
            key: key.to_string(),
            env: env_var_for(key),
            reason: reason.to_string(),
        };
        let auth = &self.auth;
        if auth.mode == AuthMode::Required && auth.keys_file.is_none() && !auth.jwt.is_configured()
        {
            return Err(invalid(
                "auth.mode",
                "`required` needs auth.keys_file or one of auth.jwt.jwks_file, auth.jwt.jwks_url, auth.jwt.hs256_secret_file",
            ));
        }
        if let Some(url) = &auth.jwt.jwks_url
            && !(url.starts_with("https://") || url.starts_with("http://"))
        {
            return Err(invalid(
                "auth.jwt.jwks_url",
                "must be an http:// or https:// URL",
            ));
        }
        if auth.jwt.tenant_claim.is_empty() {
            return Err(invalid("auth.jwt.tenant_claim", "must not be empty"));
        }
        let limits = &self.limits;
        if limits.tenant_rate > 0 && limits.burst() == 0 {
            return Err(invalid(
                "limits.tenant_burst",
                "must be at least 1 when limits.tenant_rate is on",
            ));
        }
        Ok(())
    }

    fn validate_http(&self) -> Result<(), ConfigError> {
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            key: key.to_string(),
            env: env_var_for(key),
            reason,
        };
        let http = &self.http;
        http.allowed_networks()
            .map_err(|reason| invalid("http.allowed_networks", reason))?;
        if !(1..=16 * 1024 * 1024).contains(&http.max_response_bytes) {
            return Err(invalid(
                "http.max_response_bytes",
                "must be 1 to 16777216".into(),
            ));
        }
        if http.breaker_threshold == 0 {
            return Err(invalid(
                "http.breaker_threshold",
                "must be at least 1".into(),
            ));
        }
        if http.breaker_cooldown.is_zero() || http.breaker_cooldown > Duration::from_secs(3600) {
            return Err(invalid(
                "http.breaker_cooldown",
                "must be above 0 and at most 1h".into(),
            ));
        }
        if http.max_per_host == 0 {
            return Err(invalid("http.max_per_host", "must be at least 1".into()));
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
