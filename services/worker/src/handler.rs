//! The one trait a task type implements, and the registry that finds a handler by
//! type name. Adding a type: one file in `tasks/` plus one line in [`Registry::built_in`].

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::value::RawValue;

/// What a handler gets to see of the task.
pub struct TaskInput<'a> {
    pub id: &'a str,
    /// 1 for the first attempt.
    pub attempt: u32,
    pub max_attempts: u32,
    pub payload: &'a RawValue,
}

/// Why an attempt failed.
#[derive(Debug, thiserror::Error)]
pub enum HandlerError {
    /// Worth another attempt (after a delay).
    #[error("{0}")]
    Retryable(String),
    /// Will fail however often it is tried (bad payload, impossible request).
    #[error("{0}")]
    Permanent(String),
}

pub type HandlerResult = Result<Box<RawValue>, HandlerError>;

#[async_trait::async_trait]
pub trait TaskHandler: Send + Sync + 'static {
    /// The task type this handler runs; must be a valid task type name.
    fn name(&self) -> &'static str;

    /// Runs one attempt and returns the result as JSON. The worker bounds it with the
    /// task's timeout and catches panics, so a handler need not guard against either.
    async fn run(&self, task: &TaskInput<'_>) -> HandlerResult;
}

/// Parses a payload into `T`, turning a mismatch into a permanent failure that says
/// which field is wrong.
pub fn payload<T: serde::de::DeserializeOwned>(raw: &RawValue) -> Result<T, HandlerError> {
    serde_json::from_str(raw.get())
        .map_err(|e| HandlerError::Permanent(format!("invalid payload: {e}")))
}

/// Serializes a result.
pub fn result<T: serde::Serialize>(value: &T) -> HandlerResult {
    serde_json::value::to_raw_value(value)
        .map_err(|e| HandlerError::Permanent(format!("result could not be encoded: {e}")))
}

#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn TaskHandler>>,
}

impl Registry {
    /// Every built-in type.
    pub fn built_in() -> Self {
        let mut registry = Self::default();
        registry.register(crate::tasks::echo::Echo);
        registry.register(crate::tasks::sleep::Sleep);
        registry.register(crate::tasks::sha256::Sha256);
        registry.register(crate::tasks::fail::Fail);
        registry
    }

    pub fn register(&mut self, handler: impl TaskHandler) {
        self.handlers.insert(handler.name(), Arc::new(handler));
    }

    pub fn get(&self, name: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(name).cloned()
    }

    pub fn names(&self) -> Vec<&'static str> {
        let mut names: Vec<_> = self.handlers.keys().copied().collect();
        names.sort_unstable();
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_matches_the_types_the_gateway_accepts() {
        let mut accepted: Vec<&str> = tasklane_core::task::BUILT_IN_TASK_TYPES.to_vec();
        accepted.sort_unstable();
        assert_eq!(Registry::built_in().names(), accepted);
        for name in Registry::built_in().names() {
            assert!(tasklane_core::task::TaskType::parse(name).is_ok(), "{name}");
        }
    }
}
