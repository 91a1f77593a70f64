//! Test harness: real `nats-server` (JetStream) and `valkey-server` processes on free
//! loopback ports, the gateway and worker in-process or as child processes, and an
//! HTTP client for the API. Everything is torn down on drop, also when a test fails.

pub mod apps;
pub mod client;
pub mod fault_proxy;
pub mod nats_cluster;
mod ports;
pub mod process;
pub mod resp;
pub mod servers;
pub mod valkey_sentinel;

pub use apps::{AppHandle, ProcessApp, Stack};
pub use client::ApiClient;
pub use fault_proxy::FaultProxy;
pub use nats_cluster::NatsCluster;
pub use servers::{NatsServer, ValkeyServer};
pub use valkey_sentinel::ValkeyHa;

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics with `what` after `deadline`.
/// Tests wait for conditions this way, never with fixed sleeps.
pub async fn eventually<T, F, Fut>(deadline: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let started = Instant::now();
    loop {
        if let Some(value) = check().await {
            return value;
        }
        if started.elapsed() > deadline {
            panic!("timed out after {deadline:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// The workspace root (two levels above this crate).
pub fn workspace_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("crate lives two levels below the workspace root")
        .to_path_buf()
}

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("an ephemeral port is available")
}
