//! Why start-up refused the configuration, naming the key and its variable.

/// Prefix of every configuration variable.
pub(super) const ENV_PREFIX: &str = "TASKLANE";

/// Why start-up refused the configuration. `Display` is the one line an operator
/// reads: it always names the offending key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file named by `TASKLANE_CONFIG` is missing or not valid TOML/YAML.
    #[error("configuration file {path}: {reason}")]
    File {
        /// The file.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A key no setting has (often a typo).
    #[error("unknown configuration key `{key}` ({env}); see --help for the valid keys")]
    UnknownKey {
        /// The dotted key.
        key: String,
        /// Its environment variable.
        env: String,
    },
    /// A value of the wrong type, out of range, or at odds with another key.
    #[error("invalid configuration value for `{key}` ({env}): {reason}")]
    Invalid {
        /// The dotted key.
        key: String,
        /// Its environment variable.
        env: String,
        /// What is wrong with the value.
        reason: String,
    },
    /// Anything the configuration library reports without naming a key.
    #[error("invalid configuration: {0}")]
    Other(String),
}

/// The environment variable that sets `key` (`worker.ack_wait` → `TASKLANE_WORKER__ACK_WAIT`).
pub(crate) fn env_var_for(key: &str) -> String {
    format!("{ENV_PREFIX}_{}", key.replace('.', "__").to_uppercase())
}
