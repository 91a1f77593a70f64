//! Building the gateway (binds its port, so port 0 works in tests) and running it
//! until the shutdown token fires.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use tasklane_core::Settings;
use tasklane_core::service;
use tasklane_core::task::BUILT_IN_TASK_TYPES;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::metrics::ApiMetrics;
use crate::routes::router;
use crate::state::{AppState, Inner};

/// Longest pause between two checks for the work stream while it is missing.
const MAX_STREAM_CHECK_INTERVAL: Duration = Duration::from_secs(2);

pub struct Application {
    listener: TcpListener,
    state: AppState,
}

impl Application {
    /// Connects to NATS and Valkey (both keep retrying in the background if they are
    /// down) and binds the listener.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let (queue, store) =
            service::connect(&settings, "tasklane-api", settings.api.publish_timeout).await?;
        let listener = TcpListener::bind(settings.api.listen)
            .await
            .with_context(|| format!("binding {}", settings.api.listen))?;
        let state = AppState::new(Inner {
            known_types: BUILT_IN_TASK_TYPES.iter().map(|t| t.to_string()).collect(),
            settings,
            queue,
            store,
            metrics: ApiMetrics::new(),
            work_stream_found: AtomicBool::new(false),
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
        tokio::spawn(await_work_stream(state.clone()));
        tracing::info!(address = %self.local_addr(), "gateway listening");
        let shutdown = state.shutdown.clone();
        axum::serve(self.listener, router(state.clone()))
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving HTTP")?;
        // Publishes were all awaited for their PubAck; flushing is for anything else
        // still buffered (nothing should be).
        let _ = tokio::time::timeout(Duration::from_secs(2), state.queue.flush()).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

/// Waits until the work stream exists: the worker declares it (it owns the consumer's
/// settings), and until then the gateway reports not-ready rather than accept tasks
/// it could not publish.
async fn await_work_stream(state: AppState) {
    let mut delay = Duration::from_millis(100);
    loop {
        match state.queue.work_stream_exists().await {
            Ok(true) => {
                state.work_stream_found.store(true, Ordering::Release);
                tracing::info!(stream = state.queue.stream_name(), "work stream found");
                return;
            }
            Ok(false) => tracing::info!(
                stream = state.queue.stream_name(),
                retry_in = ?delay,
                "work stream not declared yet; a worker declares it on start"
            ),
            Err(e) => {
                tracing::warn!(error = %e, retry_in = ?delay, "work stream check failed; retrying")
            }
        }
        tokio::select! {
            _ = state.shutdown.cancelled() => return,
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(MAX_STREAM_CHECK_INTERVAL);
    }
}
