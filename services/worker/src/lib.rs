//! tasklane-worker: pulls tasks from the shared JetStream consumer, runs the handler
//! for each task type, writes outcomes to Valkey and acknowledges only after that.

pub mod consumer;
pub mod context;
pub mod dead_letter;
pub mod metrics;
pub mod process;
pub mod progress;
pub mod retry;
pub mod server;
pub mod startup;

pub use startup::Worker;
pub use tasklane_tasks::Registry;
