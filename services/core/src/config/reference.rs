//! The configuration reference, read from the comments of `config.default.toml`: the
//! one place each key is documented, with its default. `--help` prints it, the
//! README's table is checked against it, and so are the keys the charts set
//! (`scripts/checks/lib/env_keys.py` reads the same file).
//!
//! The file's format, beyond TOML: the comment lines right above a key say what it
//! means; a key written as a comment (`# key = value`) has no default, and its value
//! is an example.

use std::fmt::Write;
use std::sync::LazyLock;

use super::error::env_var_for;
use super::settings::Settings;

/// The embedded defaults, comments and all.
pub(super) const DEFAULTS_TOML: &str = include_str!("../config.default.toml");

/// One configuration key as `config.default.toml` documents it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    /// Dotted name: `worker.concurrency`.
    pub name: String,
    /// What the key means.
    pub meaning: String,
    /// The value as written, quotes dropped: the default, or an example.
    value: String,
    /// Written as a comment: no default.
    unset: bool,
}

impl Key {
    /// The environment variable that sets it.
    pub fn env_var(&self) -> String {
        env_var_for(&self.name)
    }

    /// Its default, as it would be written in a variable; `None` when unset.
    pub fn default(&self) -> Option<&str> {
        (!self.unset).then_some(self.value.as_str())
    }

    /// A valid value: the default, or the example given for an unset key.
    pub fn example(&self) -> &str {
        &self.value
    }
}

/// Every key, in the file's order.
pub fn keys() -> &'static [Key] {
    static KEYS: LazyLock<Vec<Key>> = LazyLock::new(|| parse(DEFAULTS_TOML));
    &KEYS
}

fn parse(text: &str) -> Vec<Key> {
    let mut keys = Vec::new();
    let mut section = "";
    let mut meaning: Vec<&str> = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() {
            meaning.clear();
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name;
            meaning.clear();
            continue;
        }
        let (assignment, unset) = match line.strip_prefix('#') {
            Some(comment) => match assignment(comment.trim()) {
                Some(assignment) => (assignment, true),
                None => {
                    meaning.push(comment.trim());
                    continue;
                }
            },
            None => (
                assignment(line)
                    .expect("config.default.toml: a line that is not a comment sets a key"),
                false,
            ),
        };
        let (name, value) = assignment;
        keys.push(Key {
            name: format!("{section}.{name}"),
            meaning: meaning.join(" "),
            value: value.trim_matches('"').to_string(),
            unset,
        });
        meaning.clear();
    }
    keys
}

/// `key = value` where `key` is a bare lowercase name.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (name, value) = line.split_once('=')?;
    let name = name.trim();
    let bare = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
    bare.then(|| (name, value.trim()))
}

impl Settings {
    /// The `--help` text: every key with its environment variable, meaning and default.
    pub fn reference() -> String {
        let mut out = String::from(
            "CONFIGURATION (defaults < file named by TASKLANE_CONFIG < environment):\n",
        );
        for key in keys() {
            let default = key.default().unwrap_or("unset");
            let _ = writeln!(
                out,
                "  {:<34} {} [default: {default}]",
                key.env_var(),
                key.meaning
            );
        }
        out.push_str("  RUST_LOG                           log level filter [default: info]\n");
        out
    }

    /// The README's configuration table (Markdown), one row per key.
    pub fn reference_table() -> String {
        let mut out = String::from("| variable | default | meaning |\n|---|---|---|\n");
        for key in keys() {
            let default = key
                .default()
                .map_or_else(|| "unset".to_string(), |d| format!("`{d}`"));
            let _ = writeln!(out, "| `{}` | {default} | {} |", key.env_var(), key.meaning);
        }
        out
    }
}
