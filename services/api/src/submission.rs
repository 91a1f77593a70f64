//! Task requests as clients send them, and their validation into [`NewTask`]s: the
//! only form the publishing code accepts, so it never sees an invalid task.

use async_nats::HeaderMap;
use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use sha2::{Digest, Sha256};

use tasklane_core::task::{
    MAX_ATTEMPTS_LIMIT, MAX_TIMEOUT_MS, TaskEnvelope, TaskId, TaskType, headers, now_rfc3339,
};
use tasklane_core::trace_context::TraceParent;

use crate::error::ApiError;

/// One task as a client sends it. `idempotency_key` is only valid inside a batch; a
/// single task uses the `Idempotency-Key` header.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TaskRequest {
    #[serde(rename = "type", default)]
    pub task_type: Option<TaskType>,
    pub payload: Box<RawValue>,
    #[serde(default)]
    pub max_attempts: Option<u32>,
    #[serde(default)]
    pub timeout_ms: Option<u64>,
    #[serde(default)]
    pub idempotency_key: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// Items stay raw until each is parsed on its own, so an error names its index and
    /// an item's idempotency hash covers exactly that item.
    pub tasks: Vec<Box<RawValue>>,
}

/// A validated task, ready to publish.
pub struct NewTask {
    pub id: TaskId,
    pub task_type: TaskType,
    pub created_at: String,
    pub body: Bytes,
    /// The task's own span in the caller's trace.
    pub traceparent: String,
    pub request_id: Option<String>,
    pub idempotency: Option<IdempotencyKey>,
}

/// A client's idempotency key (1..=255 visible ASCII characters) and the hash of the
/// request it came with.
#[derive(Debug, Clone)]
pub struct IdempotencyKey {
    pub key: String,
    pub body_hash: String,
}

impl IdempotencyKey {
    pub fn parse(key: &str, field: &str, canonical_body: &[u8]) -> Result<Self, ApiError> {
        if key.is_empty() || key.len() > 255 || !key.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ApiError::validation(format!(
                "{field}: must be 1 to 255 visible ASCII characters"
            )));
        }
        Ok(Self {
            key: key.to_string(),
            body_hash: hex::encode(Sha256::digest(canonical_body)),
        })
    }
}

/// Deepest nesting a payload may have. serde_json refuses more than 128 levels when it
/// builds values, so anything deeper would only fail later inside a handler; past a
/// few dozen levels it is almost always an attack on a parser.
pub const MAX_PAYLOAD_DEPTH: usize = 64;

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

/// What validation needs from the running gateway.
pub struct Rules<'a> {
    pub known_types: &'a [String],
}

impl TaskRequest {
    /// Validates the fields serde could not, naming the field (prefixed with `at`, the
    /// item's position in a batch) in the error.
    pub fn validate(&self, at: &str, rules: &Rules<'_>) -> Result<(), ApiError> {
        let field = |name: &str| format!("{at}{name}");
        if json_depth(self.payload.get()) > MAX_PAYLOAD_DEPTH {
            return Err(ApiError::validation(format!(
                "{}: nested deeper than {MAX_PAYLOAD_DEPTH} levels",
                field("payload")
            )));
        }
        if let Some(task_type) = &self.task_type {
            if !rules.known_types.iter().any(|t| t == task_type.as_str()) {
                return Err(ApiError::validation(format!(
                    "{}: unknown task type `{task_type}`; known types: {}",
                    field("type"),
                    rules.known_types.join(", ")
                )));
            }
        }
        if let Some(n) = self.max_attempts {
            if !(1..=MAX_ATTEMPTS_LIMIT).contains(&n) {
                return Err(ApiError::validation(format!(
                    "{}: must be 1 to {MAX_ATTEMPTS_LIMIT}, got {n}",
                    field("max_attempts")
                )));
            }
        }
        if let Some(ms) = self.timeout_ms {
            if !(1..=MAX_TIMEOUT_MS).contains(&ms) {
                return Err(ApiError::validation(format!(
                    "{}: must be 1 to {MAX_TIMEOUT_MS}, got {ms}",
                    field("timeout_ms")
                )));
            }
        }
        Ok(())
    }

    /// Builds the message to publish. `trace` is the caller's trace context, if any.
    pub fn into_new_task(
        self,
        idempotency: Option<IdempotencyKey>,
        request_id: Option<&str>,
        trace: &TraceParent,
    ) -> NewTask {
        let id = TaskId::new();
        let task_type = self.task_type.unwrap_or_default();
        let created_at = now_rfc3339();
        let envelope = TaskEnvelope {
            id,
            task_type: task_type.clone(),
            payload: self.payload,
            max_attempts: self.max_attempts,
            timeout_ms: self.timeout_ms,
            created_at: created_at.clone(),
        };
        let body = Bytes::from(serde_json::to_vec(&envelope).expect("envelope serializes"));
        NewTask {
            id,
            task_type,
            created_at,
            body,
            traceparent: trace.child().header_value(),
            request_id: request_id.map(str::to_string),
            idempotency,
        }
    }
}

/// The request re-encoded with sorted object keys and no whitespace, so two requests
/// that differ only in formatting count as the same body for idempotency.
impl NewTask {
    /// Headers of the task's message. Built when publishing rather than stored, so a
    /// publish never copies a header map.
    pub fn message_headers(&self) -> HeaderMap {
        let mut message_headers = HeaderMap::new();
        message_headers.insert(headers::TASK_ID, self.id.to_string().as_str());
        message_headers.insert(headers::TRACEPARENT, self.traceparent.as_str());
        if let Some(request_id) = &self.request_id {
            message_headers.insert(headers::REQUEST_ID, request_id.as_str());
        }
        message_headers
    }
}

pub fn canonical_json(raw: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(raw) {
        Ok(value) => {
            let mut out = Vec::with_capacity(raw.len());
            write_canonical(&value, &mut out);
            out
        }
        Err(_) => raw.to_vec(),
    }
}

fn write_canonical(value: &serde_json::Value, out: &mut Vec<u8>) {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push(b'{');
            for (i, key) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                out.extend(serde_json::to_vec(key).expect("string serializes"));
                out.push(b':');
                write_canonical(&map[key], out);
            }
            out.push(b'}');
        }
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(item, out);
            }
            out.push(b']');
        }
        scalar => out.extend(serde_json::to_vec(scalar).expect("scalar serializes")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_ignores_key_order_and_whitespace() {
        let a = canonical_json(br#"{"type":"echo","payload":{"b":1,"a":[1, 2]}}"#);
        let b = canonical_json(b"{ \"payload\" : {\"a\":[1,2],\"b\":1}, \"type\":\"echo\" }");
        assert_eq!(a, b);
        assert_ne!(
            a,
            canonical_json(br#"{"type":"echo","payload":{"b":2,"a":[1,2]}}"#)
        );
    }

    #[test]
    fn depth_counts_containers_but_not_brackets_inside_strings() {
        assert_eq!(json_depth("1"), 0);
        assert_eq!(json_depth(r#"{"a":[1,{"b":[]}]}"#), 4);
        assert_eq!(json_depth(r#"["[[[[", "\\"[", {}]"#), 2);
    }

    #[test]
    fn idempotency_keys_must_be_visible_ascii() {
        assert!(IdempotencyKey::parse("order-42", "Idempotency-Key", b"{}").is_ok());
        assert!(IdempotencyKey::parse(&"k".repeat(255), "Idempotency-Key", b"{}").is_ok());
        for bad in ["", "has space", "tab\there", "ü", &"k".repeat(256)] {
            assert!(
                IdempotencyKey::parse(bad, "Idempotency-Key", b"{}").is_err(),
                "{bad:?}"
            );
        }
    }
}
