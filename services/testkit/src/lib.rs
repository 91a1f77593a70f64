//! Test harness: real `nats-server` (JetStream) and `valkey-server` processes on free
//! loopback ports, the gateway and worker in-process or as child processes, and an
//! HTTP client for the API. Everything is torn down on drop, also when a test fails.

pub mod apps;
pub mod certs;
pub mod client;
pub mod fault_proxy;
pub mod host;
pub mod nats_cluster;
mod ports;
pub mod process;
pub mod resp;
pub mod servers;
pub mod valkey_sentinel;
pub mod wait;

pub use apps::{App, AppHandle, ProcessApp, Stack};
pub use certs::TestCertificates;
pub use client::ApiClient;
pub use fault_proxy::FaultProxy;
pub use host::{free_port, workspace_root};
pub use nats_cluster::NatsCluster;
pub use servers::{NatsConfig, NatsServer, ServerTls, ValkeyConfig, ValkeyServer};
pub use valkey_sentinel::ValkeyHa;
pub use wait::eventually;
