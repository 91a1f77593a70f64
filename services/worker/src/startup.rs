//! Building the worker (binds its health port, so port 0 works in tests) and running
//! it until shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use anyhow::Context;
use tasklane_core::Settings;
use tasklane_core::config::TopologyManagement;
use tasklane_core::queue::{Queue, Topology};
use tasklane_core::service;
use tasklane_tasks::Registry;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::WorkerMetrics;
use crate::server::{self, ServerState};
use crate::state::AppState;
use crate::{cancellation, consumer};

/// How often queue-depth and dependency gauges are refreshed.
const GAUGE_REFRESH: Duration = Duration::from_secs(5);
/// The NATS client name, and so the inbox prefix, of the one-shot topology setup.
pub const SETUP_CLIENT: &str = "tasklane-setup";
/// Dead-letter publishes wait this long for their PubAck.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);

/// Declares the streams and the consumer, then returns: the one-shot setup where the
/// runtime workers only verify the topology (`topology.manage = "verify"`), and for
/// setups that run the gateway before any worker has started (it waits for the work
/// stream). It connects as client `tasklane-setup`, whose replies come to its own
/// inbox prefix.
pub async fn declare_topology(settings: &Settings) -> anyhow::Result<()> {
    let queue = Queue::connect(settings, SETUP_CLIENT, PUBLISH_TIMEOUT)
        .await
        .context("connecting to NATS")?;
    queue
        .declare(&Topology::new(settings))
        .await
        .context("declaring the streams and the consumer")?;
    tracing::info!(
        stream = queue.stream_name(),
        "streams and consumer declared"
    );
    Ok(())
}

pub struct Worker {
    listener: TcpListener,
    ctx: Arc<AppState>,
    shutdown: CancellationToken,
}

impl Worker {
    pub async fn build(
        settings: Settings,
        registry: Registry,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let metrics = WorkerMetrics::new();
        let registry = registry
            .enabled(settings.tasks.enabled.as_deref())
            .and_then(|registry| registry.configure_http(&settings.http, metrics.http.clone()))
            .map_err(anyhow::Error::msg)?;
        let (queue, store) =
            service::connect(&settings, "tasklane-worker", PUBLISH_TIMEOUT).await?;
        if settings.topology.manage == TopologyManagement::Verify {
            // A runtime user without management rights cannot repair a missing or
            // changed topology: stop here, saying what is wrong, rather than pull
            // from the wrong consumer or retry forever.
            queue
                .verify(&Topology::new(&settings))
                .await
                .context("verifying the streams and the consumer (topology.manage = verify)")?;
        }
        let listener = TcpListener::bind(settings.worker.listen)
            .await
            .with_context(|| format!("binding {}", settings.worker.listen))?;
        let ctx = Arc::new(AppState {
            settings,
            queue,
            store,
            registry,
            metrics,
            grace_over: CancellationToken::new(),
            cancel_watch: Default::default(),
        });
        Ok(Self {
            listener,
            ctx,
            shutdown,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn metrics(&self) -> &WorkerMetrics {
        &self.ctx.metrics
    }

    /// Processes tasks until the shutdown token fires, drains, and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let pulling = Arc::new(AtomicBool::new(false));
        let server_stop = CancellationToken::new();
        let app = server::router(ServerState {
            ctx: self.ctx.clone(),
            pulling: pulling.clone(),
            shutdown: self.shutdown.clone(),
        });
        tracing::info!(address = %self.local_addr(), "worker health and metrics listening");
        let server = tokio::spawn({
            let stop = server_stop.clone();
            let listener = self.listener;
            async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            }
        });
        let gauges = tokio::spawn(server::refresh_gauges(
            self.ctx.clone(),
            self.shutdown.clone(),
            GAUGE_REFRESH,
        ));

        // Cancellations are watched through the drain too: a task cancelled while
        // the worker shuts down stops then.
        let cancellations_stop = CancellationToken::new();
        let cancellations = tokio::spawn(cancellation::poll(
            self.ctx.clone(),
            cancellations_stop.clone(),
        ));

        consumer::run(self.ctx.clone(), self.shutdown.clone(), pulling).await;

        // The health port stays up through the drain so probes and scrapes see it.
        server_stop.cancel();
        cancellations_stop.cancel();
        gauges.abort();
        let _ = cancellations.await;
        server
            .await
            .context("health server task")?
            .context("serving health endpoints")?;
        tracing::info!("worker stopped");
        Ok(())
    }
}
