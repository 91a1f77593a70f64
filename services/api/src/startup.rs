//! Building the gateway (binds its port, so port 0 works in tests) and running it
//! until the shutdown token fires.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tasklane_core::Settings;
use tasklane_core::queue::{self, Queue};
use tasklane_core::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::ApiMetrics;
use crate::routes::router;
use crate::state::{AppState, Inner};

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to NATS and Valkey (both keep retrying in the background if they are
    /// down) and binds the listener.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let client = queue::connect(&settings.nats, "tasklane-api")
            .await
            .context("connecting to NATS")?;
        let queue = Queue::new(client, &settings, settings.api.publish_timeout);
        let store =
            Store::connect(&settings.valkey, settings.results.ttl).context("configuring Valkey")?;
        let listener = TcpListener::bind(settings.api.listen)
            .await
            .with_context(|| format!("binding {}", settings.api.listen))?;
        let state = AppState::new(Inner {
            known_types: tasklane_tasks::Registry::built_in()
                .names()
                .iter()
                .map(|t| t.to_string())
                .collect(),
            settings,
            queue,
            store,
            metrics: ApiMetrics::new(),
            topology_ready: AtomicBool::new(false),
            shutdown,
        });
        Ok(Self { listener, state })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets
    /// in-flight requests finish (each is bounded by `api.request_timeout`) and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let state = self.state.clone();
        tokio::spawn(ensure_topology(state.clone()));
        tracing::info!(address = %self.local_addr(), "gateway listening");
        let shutdown = state.shutdown.clone();
        axum::serve(self.listener, router(state.clone()))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving HTTP")?;
        // Publishes were all awaited for their PubAck; flushing is for anything else
        // still buffered (nothing should be).
        let _ = tokio::time::timeout(Duration::from_secs(2), state.queue.client().flush()).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// Declares streams and consumer, retrying until NATS answers: the gateway starts
/// (and reports not-ready) while NATS is still coming up.
async fn ensure_topology(state: AppState) {
    let mut delay = Duration::from_millis(100);
    loop {
        match state.queue.ensure_topology(&state.settings).await {
            Ok(()) => {
                state.topology_ready.store(true, Ordering::Release);
                tracing::info!(
                    stream = state.queue.stream_name(),
                    "streams and consumer ready"
                );
                return;
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "stream setup failed; retrying")
            }
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}
