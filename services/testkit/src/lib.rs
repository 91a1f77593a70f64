//! Test harness: real `nats-server` (JetStream) and `valkey-server` processes on free
//! loopback ports, the gateway and worker in-process or as child processes, and an
//! HTTP client for the API. Everything is torn down on drop, also when a test fails.

pub mod apps;
pub mod client;
pub mod host;
pub mod process;
pub mod servers;
pub mod wait;

pub use apps::{App, AppHandle, ProcessApp, Stack};
pub use client::ApiClient;
pub use host::{free_port, workspace_root};
pub use servers::{NatsServer, ValkeyServer};
pub use wait::eventually;
