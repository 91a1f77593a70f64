//! tasklane-core: what the gateway and the worker share — the task model, layered
//! configuration, telemetry, metrics helpers, the operational endpoints, and the
//! NATS and Valkey wiring.

#![warn(missing_docs)]

pub mod config;
pub mod metrics;
pub mod names;
pub mod ops;
pub mod problem;
pub mod queue;
pub mod readiness;
pub mod service;
mod shutdown;
pub mod store;
pub mod task;
pub mod telemetry;
pub mod tenant;
pub mod trace_context;

pub use config::Settings;
