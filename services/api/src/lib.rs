//! tasklane-api: the HTTP gateway. Takes tasks, publishes them to JetStream, answers
//! 202 only after the PubAck, and serves task status and queue statistics.
//!
//! A request's path: `routes` (layers, then the route; `auth` decides who is asking
//! and whether the route's scope allows it) → `handlers/*` (extract,
//! call, respond) → `intake` (validate, claim the key, publish, record) →
//! `tasklane_core::queue` and `tasklane_core::store`.

mod audit;
mod auth;
mod cancel;
mod error;
mod extract;
mod handlers;
mod headers;
pub mod intake;
mod metrics;
mod openapi;
mod readiness;
mod respond;
mod routes;
mod serve;
mod startup;
mod state;

pub use openapi::document as openapi_document;
pub use startup::Application;

#[cfg(test)]
mod bad_input_tests;
