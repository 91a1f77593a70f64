//! tasklane-worker: pulls tasks from the shared JetStream consumer, runs the handler
//! for each task type, writes outcomes to Valkey and acknowledges only after that.

pub mod cancellation;
pub mod consumer;
mod delivery;
pub mod metrics;
pub mod server;
pub mod startup;
pub mod state;

pub use startup::Worker;
pub use tasklane_tasks::Registry;
