//! Layered configuration: embedded defaults < the file named by `TASKLANE_CONFIG`
//! (TOML or YAML) < `TASKLANE_*` environment variables with `__` between nested keys.
//! Every key is documented once, in `config.default.toml` (see [`keys`]).
//!
//! Unknown keys are errors, not warnings: a typo such as `TASKLANE_WORKER__CONCURENCY`
//! would otherwise silently leave the default in force on a production cluster.

mod error;
mod reference;
mod settings;
mod validate;

use std::collections::{BTreeMap, HashMap};

pub use error::ConfigError;
use error::ENV_PREFIX;
use error::env_var_for;
use reference::DEFAULTS_TOML;
pub use reference::{Key, keys};
pub use settings::{
    ApiSettings, AuthMode, AuthSettings, DlqSettings, HttpSettings, JwtSettings, LimitsSettings,
    LogFormat, LogSettings, NatsSettings, ResultsSettings, Secret, Settings, StreamSettings,
    TasksSettings, TelemetrySettings, TlsFiles, TopologyManagement, TopologySettings,
    ValkeySettings, WorkerSettings,
};

/// The one `TASKLANE_` variable that is not a setting: it names the config file.
const CONFIG_FILE_VAR: &str = "TASKLANE_CONFIG";

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
}

/// Every key set in the merged configuration, dotted.
fn present_keys(merged: &config::Config) -> Result<Vec<String>, ConfigError> {
    fn flatten(
        prefix: &str,
        table: HashMap<String, config::Value>,
        out: &mut BTreeMap<String, ()>,
    ) {
        for (key, value) in table {
            let path = if prefix.is_empty() {
                key
            } else {
                format!("{prefix}.{key}")
            };
            match value.into_table() {
                Ok(inner) => flatten(&path, inner, out),
                Err(_) => {
                    out.insert(path, ());
                }
            }
        }
    }
    let table: HashMap<String, config::Value> = merged
        .clone()
        .try_deserialize()
        .map_err(|e| ConfigError::Other(e.to_string()))?;
    let mut present = BTreeMap::new();
    flatten("", table, &mut present);
    Ok(present.into_keys().collect())
}

fn reject_unknown_keys(merged: &config::Config) -> Result<(), ConfigError> {
    for key in present_keys(merged)? {
        if !keys().iter().any(|known| known.name == key) {
            return Err(ConfigError::UnknownKey {
                env: env_var_for(&key),
                key,
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
mod tests;
