//! The task model shared by gateway and worker: validated newtypes, the envelope that
//! travels through JetStream, and the lifecycle states a task record moves through.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use uuid::Uuid;

/// Highest `max_attempts` a task may ask for.
pub const MAX_ATTEMPTS_LIMIT: u32 = 100;
/// Highest `timeout_ms` a task may ask for (one hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// A task type name that matches `^[a-z0-9][a-z0-9_.-]{0,63}$`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct TaskType(String);

impl TaskType {
    /// Checks `name` against the pattern; the error says which rule it breaks.
    pub fn parse(name: &str) -> Result<Self, &'static str> {
        let bytes = name.as_bytes();
        let Some(first) = bytes.first() else {
            return Err("must not be empty");
        };
        if bytes.len() > 64 {
            return Err("must be at most 64 characters");
        }
        if !(first.is_ascii_lowercase() || first.is_ascii_digit()) {
            return Err("must start with a lowercase letter or a digit");
        }
        let allowed = |b: &u8| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'.' | b'-')
        };
        if !bytes.iter().all(allowed) {
            return Err("may contain only lowercase letters, digits, '_', '.' and '-'");
        }
        // A dot opens a new subject token; an empty token ("a..b", "a.") is not a
        // valid NATS subject.
        if name.split('.').any(str::is_empty) {
            return Err("must not contain empty segments between dots");
        }
        Ok(Self(name.to_string()))
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The subject its tasks are published to: `tasks.<name>`.
    pub fn subject(&self) -> String {
        crate::names::task_subject(&self.0)
    }
}

impl Default for TaskType {
    fn default() -> Self {
        Self("echo".to_string())
    }
}

impl fmt::Display for TaskType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TaskType {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        TaskType::parse(&raw).map_err(serde::de::Error::custom)
    }
}

/// A task id: a UUID v7, so ids sort by creation time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskId(Uuid);

impl TaskId {
    /// A new id, later than every id made before it in this process.
    pub fn new() -> Self {
        Self(Uuid::now_v7())
    }
}

impl TaskId {
    /// The `n`th id after this one in a family derived from it: the same random
    /// prefix and time, `n` added to the low random bits (wrapping within them, so
    /// version and variant stay intact). A batch whose first id is fixed gets the
    /// same item ids on every retry.
    pub fn nth(self, n: u64) -> Self {
        const LOW_RANDOM: u128 = (1 << 62) - 1;
        let value = self.0.as_u128();
        let low = (value & LOW_RANDOM).wrapping_add(u128::from(n)) & LOW_RANDOM;
        Self(Uuid::from_u128((value & !LOW_RANDOM) | low))
    }
}

impl Default for TaskId {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.as_hyphenated().fmt(f)
    }
}

impl FromStr for TaskId {
    type Err = uuid::Error;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Uuid::try_parse(s).map(Self)
    }
}

/// Where a task is in its life. Ordered: a record never moves to a lower rank.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskStatus {
    /// Accepted and waiting for a worker.
    Queued,
    /// An attempt has started.
    Running,
    /// The handler returned a result.
    Succeeded,
    /// The handler failed for good (not retried).
    Failed,
    /// Attempts ran out; the task is in the dead-letter stream.
    Dead,
    /// `DELETE /task/{id}` stopped it before it finished; it never runs again.
    Cancelled,
}

impl TaskStatus {
    /// Every status, in lifecycle order.
    pub const ALL: [TaskStatus; 6] = [
        Self::Queued,
        Self::Running,
        Self::Succeeded,
        Self::Failed,
        Self::Dead,
        Self::Cancelled,
    ];

    /// The name stored in records and shown by the API.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }

    /// The status named `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "queued" => Self::Queued,
            "running" => Self::Running,
            "succeeded" => Self::Succeeded,
            "failed" => Self::Failed,
            "dead" => Self::Dead,
            "cancelled" => Self::Cancelled,
            _ => return None,
        })
    }

    /// Final: the record never changes again.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            Self::Succeeded | Self::Failed | Self::Dead | Self::Cancelled
        )
    }
}

/// The message body published to `tasks.<type>`. The payload is carried as raw JSON so
/// neither side re-encodes what it does not need to read.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskEnvelope {
    /// The task id; also the message id JetStream deduplicates on.
    pub id: TaskId,
    /// What runs it.
    #[serde(rename = "type")]
    pub task_type: TaskType,
    /// The handler's input, as the client sent it.
    pub payload: Box<RawValue>,
    /// Attempts before dead-lettering; the worker's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// Per-attempt timeout; the worker's default when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// RFC 3339 UTC with milliseconds.
    pub created_at: String,
}

/// Most bytes of error text kept for a task: what a handler, a panic or a client
/// puts in an error reaches Valkey, logs and dead-letter headers only this long.
pub const MAX_ERROR_BYTES: usize = 1024;

/// `text` cut to at most [`MAX_ERROR_BYTES`] on a character boundary, marked with
/// `…` when something was cut.
pub fn bounded_error(mut text: String) -> String {
    if text.len() <= MAX_ERROR_BYTES {
        return text;
    }
    let mut cut = MAX_ERROR_BYTES - '…'.len_utf8();
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    text.truncate(cut);
    text.push('…');
    text
}

/// Now as RFC 3339 UTC with millisecond precision.
pub fn now_rfc3339() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}

/// `at` as RFC 3339 UTC with milliseconds, rounded up to the next millisecond: a
/// time a task must not start before must not be written as an earlier one.
pub fn rfc3339_millis_rounded_up(at: std::time::SystemTime) -> String {
    let since_epoch = at.duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let rounded = match since_epoch.subsec_nanos() % 1_000_000 {
        0 => at,
        below_a_milli => at + std::time::Duration::from_nanos(u64::from(1_000_000 - below_a_milli)),
    };
    humantime::format_rfc3339_millis(rounded).to_string()
}

/// Milliseconds since the Unix epoch.
pub fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn derived_ids_are_distinct_valid_v7_ids_and_reproducible() {
        let first = super::TaskId::new();
        let ids: Vec<_> = (0..1000).map(|n| first.nth(n)).collect();
        assert_eq!(ids[0], first);
        assert_eq!(ids, (0..1000).map(|n| first.nth(n)).collect::<Vec<_>>());
        let unique: std::collections::HashSet<_> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len());
        for id in &ids {
            let parsed: super::TaskId = id.to_string().parse().unwrap();
            assert_eq!(parsed.0.get_version_num(), 7);
            assert_eq!(parsed.0.get_variant(), uuid::Variant::RFC4122);
        }
    }

    use super::*;

    #[test]
    fn task_type_accepts_the_spec_pattern() {
        for ok in [
            "echo",
            "a",
            "0",
            "send_email",
            "img.resize-v2",
            &"a".repeat(64),
        ] {
            assert!(TaskType::parse(ok).is_ok(), "{ok} must be accepted");
        }
    }

    #[test]
    fn task_type_rejects_everything_else() {
        for bad in [
            "",
            "Echo",
            "_x",
            "-x",
            ".x",
            "a b",
            "a*",
            "a>",
            "ä",
            "a..b",
            "a.",
            &"a".repeat(65),
        ] {
            assert!(TaskType::parse(bad).is_err(), "{bad:?} must be rejected");
        }
    }

    #[test]
    fn status_order_is_lifecycle_order() {
        assert!(!TaskStatus::Running.is_terminal());
        for s in [
            TaskStatus::Succeeded,
            TaskStatus::Failed,
            TaskStatus::Dead,
            TaskStatus::Cancelled,
        ] {
            assert!(s.is_terminal());
            assert_eq!(TaskStatus::parse(s.as_str()), Some(s));
        }
    }

    #[test]
    fn error_text_is_bounded_on_a_character_boundary() {
        assert_eq!(bounded_error("short".into()), "short");
        let exact = "a".repeat(MAX_ERROR_BYTES);
        assert_eq!(bounded_error(exact.clone()), exact);
        let cut = bounded_error("é".repeat(MAX_ERROR_BYTES));
        assert!(cut.len() <= MAX_ERROR_BYTES, "{}", cut.len());
        assert!(cut.ends_with('…') && cut.trim_end_matches('…').chars().all(|c| c == 'é'));
    }

    #[test]
    fn ids_are_uuid_v7_and_round_trip() {
        let id = TaskId::new();
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(&text[14..15], "7", "not a v7 uuid: {text}");
        assert_eq!(text.parse::<TaskId>().unwrap(), id);
        assert!("not-a-uuid".parse::<TaskId>().is_err());
    }
}
