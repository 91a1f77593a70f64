//! Layered configuration: embedded defaults < the file named by `TASKLANE_CONFIG`
//! (TOML or YAML) < `TASKLANE_*` environment variables with `__` between nested keys.
//!
//! Unknown keys are errors, not warnings: a typo such as `TASKLANE_WORKER__CONCURENCY`
//! would otherwise silently leave the default in force on a production cluster.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

const DEFAULTS_TOML: &str = include_str!("config.default.toml");
const ENV_PREFIX: &str = "TASKLANE";
/// The one `TASKLANE_` variable that is not a setting: it names the config file.
pub const CONFIG_FILE_VAR: &str = "TASKLANE_CONFIG";

/// Every configuration key with its meaning, in the order `--help` prints them.
/// A test keeps this list and [`Settings`] in step.
pub const KEYS: &[(&str, &str)] = &[
    ("nats.url", "NATS server(s), comma-separated"),
    ("nats.credentials_file", "NATS credentials (.creds) file"),
    ("nats.token", "NATS auth token"),
    ("nats.user", "NATS user name"),
    ("nats.password", "NATS password"),
    (
        "nats.tls.ca_file",
        "CA bundle that signs the NATS server certificate",
    ),
    ("nats.tls.cert_file", "client certificate for mTLS to NATS"),
    ("nats.tls.key_file", "client key for mTLS to NATS"),
    (
        "valkey.url",
        "Valkey URL; rediss:// for TLS; password may be in the URL",
    ),
    (
        "stream.name",
        "work stream (subjects tasks.>, WorkQueue retention); dead letters go to <name>_DLQ",
    ),
    ("stream.replicas", "stream replicas (3 in production)"),
    ("stream.duplicate_window", "JetStream dedup window"),
    (
        "results.ttl",
        "how long task records and results stay in Valkey",
    ),
    ("log.format", "json or pretty; level filter from RUST_LOG"),
    ("api.listen", "gateway address"),
    ("api.max_body_bytes", "larger request bodies get 413"),
    ("api.max_batch", "most tasks in one POST /tasks"),
    (
        "api.request_timeout",
        "longest a request may take before it is answered 503",
    ),
    (
        "api.max_in_flight",
        "requests handled at once; more get 429 with Retry-After",
    ),
    (
        "api.publish_timeout",
        "longest wait for a JetStream publish acknowledgement",
    ),
    ("worker.listen", "worker's health and metrics address"),
    ("worker.concurrency", "tasks processed at once per worker"),
    (
        "worker.max_attempts",
        "default attempts before dead-lettering",
    ),
    (
        "worker.retry_base_delay",
        "first retry delay (exponential, jittered)",
    ),
    ("worker.retry_max_delay", "cap of the retry delay"),
    ("worker.ack_wait", "redelivery after a silent worker"),
    ("worker.task_timeout", "default per-attempt handler timeout"),
    ("worker.shutdown_grace", "drain time after SIGTERM"),
];

/// A value that must never reach a log line or an error message.
#[derive(Clone, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub nats: NatsSettings,
    pub valkey: ValkeySettings,
    pub stream: StreamSettings,
    pub results: ResultsSettings,
    pub log: LogSettings,
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

/// Why start-up refused the configuration. `Display` is the one line an operator
/// reads: it always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration file {path}: {reason}")]
    File { path: String, reason: String },
    #[error("unknown configuration key `{key}` ({env}); see --help for the valid keys")]
    UnknownKey { key: String, env: String },
    #[error("invalid configuration value for `{key}` ({env}): {reason}")]
    Invalid {
        key: String,
        env: String,
        reason: String,
    },
    #[error("invalid configuration: {0}")]
    Other(String),
}

/// The environment variable that sets `key` (`worker.ack_wait` → `TASKLANE_WORKER__ACK_WAIT`).
pub fn env_var_for(key: &str) -> String {
    format!("{ENV_PREFIX}_{}", key.replace('.', "__").to_uppercase())
}

impl Settings {
    /// Loads from the process environment (and the file it names).
    pub fn load() -> Result<Self, ConfigError> {
        Self::from_env_map(std::env::vars().collect())
    }

    /// Loads from an explicit variable map, so tests never touch the process environment.
    pub fn from_env_map(vars: HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder().add_source(config::File::from_str(
            DEFAULTS_TOML,
            config::FileFormat::Toml,
        ));
        if let Some(path) = vars.get(CONFIG_FILE_VAR).filter(|p| !p.is_empty()) {
            if !std::path::Path::new(path).is_file() {
                return Err(ConfigError::File {
                    path: path.clone(),
                    reason: format!("not found (named by {CONFIG_FILE_VAR})"),
                });
            }
            builder = builder.add_source(config::File::with_name(path).required(true));
        }
        let settings_vars: HashMap<String, String> = vars
            .into_iter()
            .filter(|(name, _)| name.starts_with("TASKLANE_") && name != CONFIG_FILE_VAR)
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix(ENV_PREFIX)
                .prefix_separator("_")
                .separator("__")
                .source(Some(settings_vars)),
        );
        let merged = builder.build().map_err(|e| match e {
            config::ConfigError::FileParse { uri, cause } => ConfigError::File {
                path: uri.unwrap_or_default(),
                reason: cause.to_string(),
            },
            other => ConfigError::Other(other.to_string()),
        })?;

        reject_unknown_keys(&merged)?;
        let settings: Settings = merged.try_deserialize().map_err(describe_value_error)?;
        settings.validate()?;
        Ok(settings)
    }

    /// Rules that span more than one key, checked once so a bad combination never
    /// reaches a running worker.
    fn validate(&self) -> Result<(), ConfigError> {
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
                "must start with redis:// or rediss://".into(),
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
        if !(1..=crate::task::MAX_ATTEMPTS_LIMIT).contains(&w.max_attempts) {
            return Err(invalid(
                "worker.max_attempts",
                format!("must be 1 to {}", crate::task::MAX_ATTEMPTS_LIMIT),
            ));
        }
        if w.retry_base_delay.is_zero() || w.retry_base_delay > w.retry_max_delay {
            return Err(invalid(
                "worker.retry_base_delay",
                "must be above 0 and at most worker.retry_max_delay".into(),
            ));
        }
        // Progress acks are sent every third of ack_wait; below 1s they would flood NATS.
        if w.ack_wait < Duration::from_millis(900) {
            return Err(invalid("worker.ack_wait", "must be at least 1s".into()));
        }
        if w.task_timeout.is_zero()
            || w.task_timeout > Duration::from_millis(crate::task::MAX_TIMEOUT_MS)
        {
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

    /// The `--help` text: every key with its environment variable and default.
    pub fn reference() -> String {
        let defaults = defaults_by_key();
        let mut out = String::from(
            "CONFIGURATION (defaults < file named by TASKLANE_CONFIG < environment):\n",
        );
        for (key, meaning) in KEYS {
            let default = defaults.get(*key).map(String::as_str).unwrap_or("unset");
            out.push_str(&format!(
                "  {:<34} {meaning} [default: {default}]\n",
                env_var_for(key)
            ));
        }
        out.push_str("  RUST_LOG                           log level filter [default: info]\n");
        out
    }
}

fn defaults_by_key() -> BTreeMap<String, String> {
    let table: toml_like::Table = config::Config::builder()
        .add_source(config::File::from_str(
            DEFAULTS_TOML,
            config::FileFormat::Toml,
        ))
        .build()
        .and_then(|c| c.try_deserialize())
        .unwrap_or_default();
    let mut out = BTreeMap::new();
    toml_like::flatten("", &table, &mut out);
    out
}

/// A loosely typed view of the merged configuration, for walking its keys.
mod toml_like {
    use std::collections::{BTreeMap, HashMap};

    pub type Table = HashMap<String, config::Value>;

    pub fn flatten(prefix: &str, table: &Table, out: &mut BTreeMap<String, String>) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key.clone()
            } else {
                format!("{prefix}.{key}")
            };
            match value.clone().into_table() {
                Ok(inner) => flatten(&path, &inner, out),
                Err(_) => {
                    out.insert(path, value.to_string());
                }
            }
        }
    }
}

fn reject_unknown_keys(merged: &config::Config) -> Result<(), ConfigError> {
    let table: toml_like::Table = merged
        .clone()
        .try_deserialize()
        .map_err(|e| ConfigError::Other(e.to_string()))?;
    let mut present = BTreeMap::new();
    toml_like::flatten("", &table, &mut present);
    for key in present.keys() {
        if !KEYS.iter().any(|(known, _)| known == key) {
            return Err(ConfigError::UnknownKey {
                env: env_var_for(key),
                key: key.clone(),
            });
        }
    }
    Ok(())
}

fn describe_value_error(error: config::ConfigError) -> ConfigError {
    let text = error.to_string();
    // The config crate ends value errors with "for key `a.b`"; lift the key out so
    // the message can name the environment variable too.
    if let Some(start) = text.rfind("for key `") {
        let rest = &text[start + "for key `".len()..];
        if let Some(end) = rest.find('`') {
            let key = rest[..end].to_string();
            let reason = text[..start].trim().to_string();
            return ConfigError::Invalid {
                env: env_var_for(&key),
                key,
                reason,
            };
        }
    }
    ConfigError::Other(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(vars: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_env_map(
            vars.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
    }

    #[test]
    fn defaults_match_the_spec_table() {
        let s = load(&[]).unwrap();
        assert_eq!(s.nats.url, "nats://127.0.0.1:4222");
        assert_eq!(s.valkey.url.expose(), "redis://127.0.0.1:6379");
        assert_eq!(s.stream.name, "TASKS");
        assert_eq!(s.stream.dead_letter_name(), "TASKS_DLQ");
        assert_eq!(s.stream.replicas, 1);
        assert_eq!(s.stream.duplicate_window, Duration::from_secs(120));
        assert_eq!(s.results.ttl, Duration::from_secs(86_400));
        assert_eq!(s.log.format, LogFormat::Json);
        assert_eq!(s.api.listen, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(s.api.max_body_bytes, 1_048_576);
        assert_eq!(s.api.max_batch, 1000);
        assert_eq!(s.worker.listen, "0.0.0.0:9090".parse().unwrap());
        assert_eq!(s.worker.concurrency, 64);
        assert_eq!(s.worker.max_attempts, 5);
        assert_eq!(s.worker.retry_base_delay, Duration::from_secs(1));
        assert_eq!(s.worker.retry_max_delay, Duration::from_secs(600));
        assert_eq!(s.worker.ack_wait, Duration::from_secs(30));
        assert_eq!(s.worker.task_timeout, Duration::from_secs(30));
        assert_eq!(s.worker.shutdown_grace, Duration::from_secs(25));
    }

    #[test]
    fn environment_overrides_nested_keys() {
        let s = load(&[
            ("TASKLANE_WORKER__CONCURRENCY", "8"),
            ("TASKLANE_WORKER__ACK_WAIT", "2m"),
            ("TASKLANE_NATS__TLS__CA_FILE", "/etc/nats/ca.pem"),
            ("TASKLANE_NATS__USER", "gateway"),
            ("TASKLANE_NATS__PASSWORD", "s3cret"),
            ("TASKLANE_LOG__FORMAT", "pretty"),
        ])
        .unwrap();
        assert_eq!(s.worker.concurrency, 8);
        assert_eq!(s.worker.ack_wait, Duration::from_secs(120));
        assert_eq!(
            s.nats.tls.ca_file.as_deref(),
            Some(std::path::Path::new("/etc/nats/ca.pem"))
        );
        assert_eq!(s.log.format, LogFormat::Pretty);
        assert!(
            !format!("{s:?}").contains("s3cret"),
            "secrets leak into Debug"
        );
    }

    #[test]
    fn file_layer_sits_between_defaults_and_environment() {
        let dir = std::env::temp_dir().join(format!("tasklane-config-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("tasklane.yaml");
        std::fs::write(&file, "worker:\n  concurrency: 7\n  max_attempts: 9\n").unwrap();
        let s = load(&[
            ("TASKLANE_CONFIG", file.to_str().unwrap()),
            ("TASKLANE_WORKER__MAX_ATTEMPTS", "3"),
        ])
        .unwrap();
        assert_eq!(s.worker.concurrency, 7);
        assert_eq!(s.worker.max_attempts, 3);
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn bad_configuration_names_the_key() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (
                &[("TASKLANE_WORKER__CONCURENCY", "8")],
                "TASKLANE_WORKER__CONCURENCY",
            ),
            (
                &[("TASKLANE_WORKER__CONCURRENCY", "many")],
                "TASKLANE_WORKER__CONCURRENCY",
            ),
            (
                &[("TASKLANE_WORKER__ACK_WAIT", "soon")],
                "TASKLANE_WORKER__ACK_WAIT",
            ),
            (
                &[("TASKLANE_WORKER__CONCURRENCY", "0")],
                "TASKLANE_WORKER__CONCURRENCY",
            ),
            (
                &[("TASKLANE_API__LISTEN", "nowhere")],
                "TASKLANE_API__LISTEN",
            ),
            (&[("TASKLANE_LOG__FORMAT", "xml")], "TASKLANE_LOG__FORMAT"),
            (
                &[("TASKLANE_VALKEY__URL", "http://x")],
                "TASKLANE_VALKEY__URL",
            ),
            (
                &[("TASKLANE_NATS__USER", "only-user")],
                "TASKLANE_NATS__USER",
            ),
            (
                &[("TASKLANE_STREAM__REPLICAS", "7")],
                "TASKLANE_STREAM__REPLICAS",
            ),
            (
                &[("TASKLANE_CONFIG", "/does/not/exist.toml")],
                "/does/not/exist.toml",
            ),
            (
                &[("TASKLANE_WORKER__RETRY_BASE_DELAY", "20m")],
                "TASKLANE_WORKER__RETRY_BASE_DELAY",
            ),
        ];
        for (vars, expected) in cases {
            let err = load(vars).expect_err(&format!("{vars:?} must be rejected"));
            let line = err.to_string();
            assert!(
                line.contains(expected),
                "{vars:?}: {line:?} does not name {expected}"
            );
            assert!(!line.contains('\n'), "{vars:?}: not one line: {line:?}");
        }
    }

    #[test]
    fn reference_lists_every_key_and_every_default() {
        let help = Settings::reference();
        for (key, _) in KEYS {
            assert!(help.contains(&env_var_for(key)), "--help misses {key}");
        }
        for key in defaults_by_key().keys() {
            assert!(
                KEYS.iter().any(|(k, _)| k == key),
                "default {key} is not documented in KEYS"
            );
        }
        assert!(help.contains("TASKLANE_WORKER__CONCURRENCY"));
        let readme = include_str!("../../../README.md");
        for (key, _) in KEYS {
            assert!(readme.contains(&env_var_for(key)), "README misses {key}");
        }
        assert!(help.contains("[default: 64]"));
    }
}
