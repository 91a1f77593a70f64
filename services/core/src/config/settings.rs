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
    pub topology: TopologySettings,
    pub dlq: DlqSettings,
    pub limits: LimitsSettings,
    pub tasks: TasksSettings,
    pub results: ResultsSettings,
    pub log: LogSettings,
    #[serde(default)]
    pub telemetry: TelemetrySettings,
    pub api: ApiSettings,
    pub auth: AuthSettings,
    pub worker: WorkerSettings,
    pub http: HttpSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NatsSettings {
    pub url: String,
    pub credentials_file: Option<PathBuf>,
    pub token: Option<Secret>,
    pub user: Option<String>,
    pub password: Option<Secret>,
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    #[serde(default)]
    pub tls: TlsFiles,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValkeySettings {
    pub url: Secret,
    pub sentinels: Option<String>,
    pub sentinel_service: String,
    pub min_replicas_ack: u32,
    #[serde(with = "humantime_serde")]
    pub replica_ack_timeout: Duration,
    pub password_file: Option<PathBuf>,
    #[serde(default)]
    pub tls: TlsFiles,
}

/// CA, client certificate and key files for TLS to NATS or to Valkey.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TlsFiles {
    pub ca_file: Option<PathBuf>,
    pub cert_file: Option<PathBuf>,
    pub key_file: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TopologyManagement {
    Declare,
    Verify,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopologySettings {
    pub manage: TopologyManagement,
}

impl ValkeySettings {
    /// The Sentinel addresses, when the primary is found through Sentinel.
    pub fn sentinel_addrs(&self) -> Option<Vec<(String, u16)>> {
        let list = self.sentinels.as_deref()?;
        let addrs: Option<Vec<_>> = list
            .split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                let (host, port) = entry.rsplit_once(':')?;
                let host = host.trim_start_matches('[').trim_end_matches(']');
                Some((host.to_string(), port.parse().ok()?))
            })
            .collect();
        addrs.filter(|addrs| !addrs.is_empty())
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSettings {
    pub name: String,
    pub replicas: usize,
    #[serde(with = "humantime_serde")]
    pub duplicate_window: Duration,
    pub max_bytes: u64,
    pub max_msgs: u64,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DlqSettings {
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    pub max_bytes: u64,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TasksSettings {
    #[serde(default, deserialize_with = "comma_list")]
    pub enabled: Option<Vec<String>>,
}

impl TasksSettings {
    /// Whether this deployment accepts and runs `task_type`.
    pub fn is_enabled(&self, task_type: &str) -> bool {
        self.enabled
            .as_ref()
            .is_none_or(|enabled| enabled.iter().any(|t| t == task_type))
    }
}

/// A list written either as one comma-separated string (how an environment variable
/// carries it) or as a list (in a YAML or TOML file).
fn comma_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Written {
        Text(String),
        List(Vec<String>),
    }
    let items = match Option::<Written>::deserialize(d)? {
        None => return Ok(None),
        Some(Written::Text(text)) => text.split(',').map(str::to_string).collect(),
        Some(Written::List(list)) => list,
    };
    Ok(Some(
        items
            .iter()
            .map(|item| item.trim().to_string())
            .filter(|item| !item.is_empty())
            .collect(),
    ))
}

impl StreamSettings {
    /// The dead-letter stream that belongs to the work stream.
    pub fn dead_letter_name(&self) -> String {
        crate::names::dead_letter_stream(&self.name)
    }

    /// The stream delayed tasks of the work stream wait in.
    pub fn schedule_name(&self) -> String {
        crate::names::schedule_stream(&self.name)
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
    pub max_in_flight_body_bytes: usize,
    #[serde(with = "humantime_serde")]
    pub publish_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub header_timeout: Duration,
    pub max_connections: usize,
    pub ops_listen: Option<SocketAddr>,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthMode {
    Off,
    Required,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthSettings {
    pub mode: AuthMode,
    pub keys_file: Option<PathBuf>,
    pub jwt: JwtSettings,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSettings {
    pub jwks_file: Option<PathBuf>,
    pub jwks_url: Option<String>,
    pub hs256_secret_file: Option<PathBuf>,
    pub issuer: Option<String>,
    pub audience: Option<String>,
    pub tenant_claim: String,
}

impl JwtSettings {
    /// Whether any token signature can be checked.
    pub fn is_configured(&self) -> bool {
        self.jwks_file.is_some() || self.jwks_url.is_some() || self.hs256_secret_file.is_some()
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    #[serde(with = "humantime_serde")]
    pub max_timeout: Duration,
    pub max_attempts: u32,
    pub tenant_rate: u32,
    pub tenant_burst: Option<u32>,
    pub tenant_max_outstanding: u64,
}

impl LimitsSettings {
    /// The bucket size: `tenant_burst`, or the rate when unset.
    pub fn burst(&self) -> u32 {
        self.tenant_burst.unwrap_or(self.tenant_rate)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpSettings {
    pub signing_secret_file: Option<PathBuf>,
    #[serde(default, deserialize_with = "comma_list")]
    pub allowed_networks: Option<Vec<String>>,
    pub max_response_bytes: usize,
    pub breaker_threshold: u32,
    #[serde(with = "humantime_serde")]
    pub breaker_cooldown: Duration,
    pub max_per_host: usize,
}

impl HttpSettings {
    /// `allowed_networks` parsed, or which entry is not a CIDR.
    pub fn allowed_networks(&self) -> Result<Vec<ipnet::IpNet>, String> {
        self.allowed_networks
            .iter()
            .flatten()
            .map(|cidr| {
                cidr.parse()
                    .map_err(|_| format!("`{cidr}` is not a CIDR such as 10.0.0.0/8 or fd00::/8"))
            })
            .collect()
    }
}

impl Default for HttpSettings {
    /// The defaults `config.default.toml` documents, for a handler built without
    /// settings (the gateway's, which only checks payloads).
    fn default() -> Self {
        Self {
            signing_secret_file: None,
            allowed_networks: None,
            max_response_bytes: 65_536,
            breaker_threshold: 5,
            breaker_cooldown: Duration::from_secs(30),
            max_per_host: 32,
        }
    }
}
