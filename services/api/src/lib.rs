//! tasklane-api: the HTTP gateway. Takes tasks, publishes them to JetStream, answers
//! 202 only after the PubAck, and serves task status and queue statistics.

pub mod error;
pub mod extract;
pub mod handlers;
pub mod idempotency;
pub mod metrics;
pub mod publish;
pub mod routes;
pub mod startup;
pub mod state;
pub mod submission;

pub use startup::Application;
