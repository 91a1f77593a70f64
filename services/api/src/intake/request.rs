//! Task requests as clients send them, and their validation into [`ValidTask`]s: the
//! only form that can become a message, so nothing unvalidated is ever published.

use serde::Deserialize;
use serde_json::value::RawValue;
use tasklane_core::config::LimitsSettings;
use tasklane_core::store::PlannedTask;
use tasklane_core::task::{TaskEnvelope, TaskType};
use tasklane_tasks::Registry;

use crate::error::ApiError;

pub(crate) use super::start::Start;

/// Deepest nesting a payload may have. serde_json refuses more than 128 levels when it
/// builds values, so anything deeper would only fail later inside a handler; past a
/// few dozen levels it is almost always an attack on a parser.
const MAX_PAYLOAD_DEPTH: usize = 64;

/// One task as a client sends it. `idempotency_key` is only valid inside a batch; a
/// single task uses the `Idempotency-Key` header.
// The bounds in the published description are the defaults; `limits.max_attempts`
// and `limits.max_timeout` may set lower ones (a test keeps them equal to the
// defaults).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"type": "sha256", "payload": {"data": "hello"}, "max_attempts": 3, "timeout_ms": 30000}))]
pub(crate) struct TaskRequest {
    /// The task type, `echo` when absent or null: one of the built-in types listed here
    /// that this deployment enables (`tasks.enabled`, all by default). Another
    /// name is 422, with the enabled types in the detail.
    #[serde(rename = "type", default)]
    #[schema(value_type = Option<String>, max_length = 64, pattern = "^[a-z0-9][a-z0-9_-]*(\\.[a-z0-9_-]+)*$", example = "echo")]
    task_type: Option<TaskType>,
    /// The task's input, any JSON (at most 64 levels deep); its meaning is the
    /// type's.
    #[schema(value_type = serde_json::Value)]
    payload: Box<RawValue>,
    /// Most attempts before the task is dead-lettered; the worker's
    /// `worker.max_attempts` when absent.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 100)]
    max_attempts: Option<u32>,
    /// Longest one attempt may run, in milliseconds; the worker's
    /// `worker.task_timeout` when absent.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 1, maximum = 3600000)]
    timeout_ms: Option<u64>,
    /// Milliseconds after acceptance before the task may start; it waits in the
    /// queue as `queued`, using no worker, and its record shows `run_at`. Not
    /// together with `run_at`.
    #[serde(default, deserialize_with = "whole_number")]
    #[schema(minimum = 0, maximum = 2592000000.0)]
    delay_ms: Option<u64>,
    /// The earliest time the task may start (RFC 3339, any offset), at most 30 days
    /// ahead; a time already past runs the task now. Not together with `delay_ms`.
    #[serde(default)]
    #[schema(value_type = Option<String>, format = DateTime, example = "2026-12-01T08:00:00Z")]
    run_at: Option<String>,
    #[serde(default)]
    #[schema(ignore)]
    pub(crate) idempotency_key: Option<String>,
}

/// A whole number, also when written with a fraction of zero (`3.0`): JSON has one
/// number type, and an `integer` in the published description admits `3.0`.
fn whole_number<'de, D, T>(deserializer: D) -> Result<Option<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: TryFrom<u64>,
{
    use serde::de::Error;
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else {
        return Ok(None);
    };
    let whole = number.as_u64().or_else(|| {
        number
            .as_f64()
            .filter(|f| f.fract() == 0.0 && (0.0..=u64::MAX as f64).contains(f))
            .map(|f| f as u64)
    });
    whole
        .and_then(|n| T::try_from(n).ok())
        .map(Some)
        .ok_or_else(|| D::Error::custom(format!("expected a whole number in range, got {number}")))
}

/// `POST /tasks`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct BatchRequest {
    /// Items stay raw until each is parsed on its own, so an error names its index and
    /// an item's idempotency hash covers exactly that item.
    #[schema(schema_with = crate::openapi::batch_items)]
    pub(crate) tasks: Vec<Box<RawValue>>,
}

/// What validation checks against: the running gateway's limits.
pub(crate) struct Rules {
    /// Task types this deployment enables (`tasks.enabled`), which check payloads.
    registry: Registry,
    /// Their names, for messages.
    known_types: Vec<String>,
    /// Most tasks in one `POST /tasks`.
    max_batch: usize,
    /// Largest `max_attempts` (`limits.max_attempts`).
    max_attempts: u32,
    /// Largest `timeout_ms` (`limits.max_timeout`).
    max_timeout_ms: u64,
}

impl Rules {
    pub(crate) fn new(registry: Registry, limits: &LimitsSettings, max_batch: usize) -> Self {
        Self {
            known_types: registry.names().iter().map(|t| t.to_string()).collect(),
            registry,
            max_batch,
            max_attempts: limits.max_attempts,
            max_timeout_ms: u64::try_from(limits.max_timeout.as_millis()).unwrap_or(u64::MAX),
        }
    }

    /// Most tasks one batch (or one bulk re-drive) may hold.
    pub(crate) fn max_batch(&self) -> usize {
        self.max_batch
    }

    /// Whether this deployment runs tasks of `task_type`.
    pub(crate) fn is_enabled(&self, task_type: &TaskType) -> bool {
        self.known_types.iter().any(|t| t == task_type.as_str())
    }

    /// A batch holds at least one task and at most `api.max_batch`.
    pub(crate) fn check_batch_size(&self, len: usize) -> Result<(), ApiError> {
        if len == 0 {
            return Err(ApiError::validation(
                "tasks: must contain at least one task",
            ));
        }
        if len > self.max_batch {
            return Err(ApiError::validation(format!(
                "tasks: at most {} tasks per batch, got {len}",
                self.max_batch
            )));
        }
        Ok(())
    }
}

/// A task that passed validation.
#[derive(Debug)]
pub(crate) struct ValidTask {
    task_type: TaskType,
    payload: Box<RawValue>,
    max_attempts: Option<u32>,
    timeout_ms: Option<u64>,
    pub(crate) start: Start,
}

impl TaskRequest {
    /// Checks what serde could not, naming the field (prefixed with `at`, the item's
    /// position in a batch) in the error. A request's `idempotency_key` is not part
    /// of the task: take it out first.
    pub(crate) fn validate(self, at: &str, rules: &Rules) -> Result<ValidTask, ApiError> {
        let field = |name: &str| format!("{at}{name}");
        if json_depth(self.payload.get()) > MAX_PAYLOAD_DEPTH {
            return Err(ApiError::validation(format!(
                "{}: nested deeper than {MAX_PAYLOAD_DEPTH} levels",
                field("payload")
            )));
        }
        if let Some(task_type) = &self.task_type
            && !rules.known_types.iter().any(|t| t == task_type.as_str())
        {
            return Err(ApiError::validation(format!(
                "{}: unknown task type `{task_type}`; enabled types: {}",
                field("type"),
                rules.known_types.join(", ")
            )));
        }
        if let Some(n) = self.max_attempts
            && !(1..=rules.max_attempts).contains(&n)
        {
            return Err(ApiError::validation(format!(
                "{}: must be 1 to {}, got {n}",
                field("max_attempts"),
                rules.max_attempts
            )));
        }
        if let Some(ms) = self.timeout_ms
            && !(1..=rules.max_timeout_ms).contains(&ms)
        {
            return Err(ApiError::validation(format!(
                "{}: must be 1 to {}, got {ms}",
                field("timeout_ms"),
                rules.max_timeout_ms
            )));
        }
        let start = Start::parse(self.delay_ms, self.run_at.as_deref(), at)?;
        let task_type = self.task_type.unwrap_or_default();
        if let Some(handler) = rules.registry.get(task_type.as_str()) {
            handler
                .check(&self.payload)
                .map_err(|reason| ApiError::validation(format!("{at}{reason}")))?;
        }
        Ok(ValidTask {
            task_type,
            payload: self.payload,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
            start,
        })
    }
}

impl ValidTask {
    /// The task `envelope` carried, to be published again under a new id: the same
    /// type, payload and options. It was valid when it was first accepted. A
    /// re-drive starts now: the dead task's start time has passed.
    pub(crate) fn from_envelope(envelope: TaskEnvelope) -> Self {
        Self {
            task_type: envelope.task_type,
            payload: envelope.payload,
            max_attempts: envelope.max_attempts,
            timeout_ms: envelope.timeout_ms,
            start: Start::Now,
        }
    }

    /// The task as it travels, under the id and creation time fixed for it.
    pub(crate) fn into_envelope(self, planned: &PlannedTask) -> TaskEnvelope {
        TaskEnvelope {
            id: planned.id,
            task_type: self.task_type,
            payload: self.payload,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
            created_at: planned.created_at.clone(),
        }
    }
}

/// Nesting depth of a JSON text (arrays and objects), skipping string contents.
fn json_depth(text: &str) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for byte in text.bytes() {
        if in_string {
            match byte {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match byte {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_counts_containers_but_not_brackets_inside_strings() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_depth(r#"["[[[[", "\\"[", {}]"#), 2);
    }
}
