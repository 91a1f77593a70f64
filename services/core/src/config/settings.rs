//! The settings both binaries read. Every key is documented once, in
//! `config.default.toml` (see `reference`), not again on these fields.
#![allow(missing_docs)]

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

/// A value that must never reach a log line or an error message.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// The value itself, for the one call that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

/// Everything both binaries can be configured with; each binary reads its sections.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub nats: NatsSettings,
    pub valkey: ValkeySettings,
    pub stream: StreamSettings,
    pub results: ResultsSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub api: ApiSettings,
    pub worker: WorkerSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
    pub credentials_file: Option<PathBuf>,
    pub token: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    #[serde(default)]
    pub tls: NatsTlsSettings,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsTlsSettings {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValkeySettings {
    pub url: Secret,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub name: String,
    pub replicas: usize,
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
}

impl StreamSettings {
    /// The dead-letter stream that belongs to the work stream.
    pub fn dead_letter_name(&self) -> String {
        crate::names::dead_letter_stream(&self.name)
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultsSettings {
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    Json,
    Pretty,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    pub format: LogFormat,
}

/// Trace export; off unless an OTLP endpoint is configured here or in
/// `OTEL_EXPORTER_OTLP_ENDPOINT`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TelemetrySettings {
    pub otlp_endpoint: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    pub max_body_bytes: usize,
    pub max_batch: usize,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    pub max_in_flight: usize,
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkerSettings {
    pub listen: SocketAddr,
    pub concurrency: usize,
    pub max_attempts: u32,
    #[serde(with = "humantime_serde")]
    pub retry_base_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub retry_max_delay: Duration,
    #[serde(with = "humantime_serde")]
    pub ack_wait: Duration,
    #[serde(with = "humantime_serde")]
    pub task_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub shutdown_grace: Duration,
}
