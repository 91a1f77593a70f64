//! Finds the handler for a task type by name.

use std::collections::HashMap;
use std::sync::Arc;

use tasklane_core::config::HttpSettings;

use crate::catalog::{self, Http, HttpMetrics};
use crate::task_handler::TaskHandler;

/// The task types one process knows, by name.
#[derive(Clone, Default)]
pub struct Registry {
    handlers: HashMap<&'static str, Arc<dyn TaskHandler>>,
    /// Names in registration order, for messages that list them.
    names: Vec<&'static str>,
}

impl Registry {
    /// Every built-in type (the list in `src/catalog.rs`).
    pub fn built_in() -> Self {
        let mut registry = Self::default();
        for handler in catalog::all() {
            registry.insert(handler);
        }
        registry
    }

    /// Adds a type, for example one only a test needs.
    ///
    /// # Panics
    /// If a type of the same name is registered already: two handlers for one name
    /// would leave it to chance which of them runs.
    pub fn register(&mut self, handler: impl TaskHandler) {
        self.insert(Arc::new(handler));
    }

    fn insert(&mut self, handler: Arc<dyn TaskHandler>) {
        let name = handler.name();
        assert!(
            self.handlers.insert(name, handler).is_none(),
            "task type `{name}` is registered twice"
        );
        self.names.push(name);
    }

    /// Only the types `enabled` names, or all of them when it is `None`
    /// (`tasks.enabled`). A type this deployment does not enable has no handler here,
    /// so a task of that type that reaches a worker anyway fails without running.
    ///
    /// # Errors
    /// A name that is not registered: a typo would otherwise disable a type silently.
    pub fn enabled(mut self, enabled: Option<&[String]>) -> Result<Self, String> {
        let Some(enabled) = enabled else {
            return Ok(self);
        };
        if let Some(unknown) = enabled.iter().find(|name| self.get(name).is_none()) {
            return Err(format!(
                "tasks.enabled: unknown task type `{unknown}`; known types: {}",
                self.names.join(", ")
            ));
        }
        self.names.retain(|name| enabled.iter().any(|e| e == name));
        self.handlers
            .retain(|name, _| enabled.iter().any(|e| e == name));
        Ok(self)
    }

    /// Configures the `http` type with the worker's `settings`, counting into
    /// `metrics`; the built-in one has the defaults and counts nowhere, which is all
    /// the gateway needs to check payloads. Nothing to do when `http` is not enabled.
    ///
    /// # Errors
    /// An unreadable signing secret or a bad `allowed_networks` entry.
    pub fn configure_http(
        mut self,
        settings: &HttpSettings,
        metrics: HttpMetrics,
    ) -> Result<Self, String> {
        let http = Http::default().name();
        if self.handlers.contains_key(http) {
            self.handlers
                .insert(http, Arc::new(Http::new(settings, metrics)?));
        }
        Ok(self)
    }

    /// The handler for task type `name`.
    pub fn get(&self, name: &str) -> Option<Arc<dyn TaskHandler>> {
        self.handlers.get(name).cloned()
    }

    /// The registered type names, in registration order.
    pub fn names(&self) -> &[&'static str] {
        &self.names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_built_in_name_is_a_valid_task_type_and_finds_its_handler() {
        let registry = Registry::built_in();
        assert!(!registry.names().is_empty());
        for name in registry.names() {
            assert!(tasklane_core::task::TaskType::parse(name).is_ok(), "{name}");
            assert_eq!(registry.get(name).map(|h| h.name()), Some(*name));
        }
        assert!(registry.get("no-such-type").is_none());
    }

    #[test]
    fn only_enabled_types_keep_their_handler() {
        let all = Registry::built_in();
        assert!(all.clone().enabled(None).unwrap().get("fail").is_some());
        let enabled = ["echo".to_string(), "sha256".to_string()];
        let some = all.clone().enabled(Some(&enabled)).unwrap();
        assert_eq!(some.names(), ["echo", "sha256"]);
        assert!(some.get("fail").is_none() && some.get("sleep").is_none());
        let typo = ["ecoh".to_string()];
        let Err(error) = all.enabled(Some(&typo)) else {
            panic!("an unknown name must be refused");
        };
        assert!(error.contains("ecoh"), "{error}");
    }

    #[test]
    #[should_panic(expected = "registered twice")]
    fn a_name_cannot_be_registered_twice() {
        let mut registry = Registry::built_in();
        let echo = registry.get("echo").expect("echo is built in");
        registry.insert(echo);
    }
}
