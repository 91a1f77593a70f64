//! tasklane-tasks: what a task type is, and every type tasklane runs.
//!
//! A task type implements [`TaskHandler`]. The worker runs a task through the
//! handler registered under the task's `type`; the gateway accepts exactly the types
//! registered here, so it never takes a task no worker can run.
//!
//! Adding a type is one file and one line: the handler in `src/catalog/<name>.rs`,
//! and `<name>::<Handler>,` in the list in `src/catalog.rs`.

#![warn(missing_docs)]

mod catalog;
mod registry;
mod task_handler;

pub use catalog::{
    Http, HttpMethod, HttpMetrics, HttpPayload, MAX_URL_BYTES as HTTP_MAX_URL_BYTES,
    RESERVED_HEADERS as HTTP_RESERVED_HEADERS,
};
pub use registry::Registry;
pub use task_handler::{HandlerError, HandlerResult, TaskHandler, TaskInput, payload, result};
