//! Building the gateway (binds its port, so port 0 works in tests) and running it
//! until the shutdown token fires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::Router;
use tasklane_core::queue::Queue;
use tasklane_core::{Settings, ops, service};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::auth::Authenticator;
use crate::extract::BodyLimit;
use crate::intake::{Intake, Rules};
use crate::metrics::ApiMetrics;
use crate::readiness::GatewayReadiness;
use crate::routes::router;
use crate::state::AppState;

/// The gateway, bound to its port and ready to run.
pub struct Application {
    listener: TcpListener,
    gateway: Gateway,
    shutdown: CancellationToken,
}

/// The gateway without a listener: its router, and what runs beside it.
pub(crate) struct Gateway {
    pub(crate) router: Router,
    queue: Queue,
    readiness: GatewayReadiness,
}

impl Gateway {
    /// Connects to NATS and Valkey (both keep retrying in the background if they are
    /// down) and assembles the router.
    pub(crate) async fn connect(
        settings: &Settings,
        shutdown: CancellationToken,
    ) -> anyhow::Result<Self> {
        let api = &settings.api;
        let (queue, store) =
            service::connect(settings, "tasklane-api", api.publish_timeout).await?;
        let metrics = ApiMetrics::new();
        // The task types a worker runs: the one place the gateway learns them.
        let rules = Rules::new(tasklane_tasks::Registry::built_in().names(), api.max_batch);
        let authenticator = Arc::new(Authenticator::start(&settings.auth, &shutdown).await?);
        let intake = Intake::new(
            queue.clone(),
            store.clone(),
            rules,
            &settings.limits,
            metrics.intake,
            api.request_timeout,
            settings.stream.duplicate_window,
        );
        let readiness = GatewayReadiness::new(queue.clone(), store.clone(), shutdown);
        let state = AppState::new(intake, queue.clone(), store, BodyLimit(api.max_body_bytes));
        let ops = ops::router(readiness.clone(), metrics.base);
        Ok(Self {
            router: router(state, ops, metrics.http, api, authenticator),
            queue,
            readiness,
        })
    }
}

impl Application {
    /// Connects (see [`Gateway::connect`]) and binds `api.listen`.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let gateway = Gateway::connect(&settings, shutdown.clone()).await?;
        let listener = TcpListener::bind(settings.api.listen)
            .await
            .with_context(|| format!("binding {}", settings.api.listen))?;
        Ok(Self {
            listener,
            gateway,
            shutdown,
        })
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets
    /// in-flight requests finish (each is bounded by `api.request_timeout`) and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let address = self.local_addr();
        let Gateway {
            router,
            queue,
            readiness,
        } = self.gateway;
        tokio::spawn(readiness.await_work_stream());
        tracing::info!(%address, "gateway listening");
        let shutdown = self.shutdown;
        axum::serve(self.listener, router)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
            .context("serving HTTP")?;
        // Publishes were all awaited for their PubAck; flushing is for anything else
        // still buffered (nothing should be).
        let _ = tokio::time::timeout(Duration::from_secs(2), queue.flush()).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}
