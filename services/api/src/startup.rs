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
use crate::cancel::Canceller;
use crate::extract::BodyLimit;
use crate::intake::{Intake, Leases, Rules};
use crate::metrics::ApiMetrics;
use crate::readiness::GatewayReadiness;
use crate::routes::{ops_only, router};
use crate::serve::{ConnectionLimits, serve};
use crate::state::AppState;

/// The gateway, bound to its port (and its ops port, when it has one) and ready to
/// run.
pub struct Application {
    listener: TcpListener,
    ops_listener: Option<TcpListener>,
    gateway: Gateway,
    shutdown: CancellationToken,
}

/// The gateway without a listener: its router, and what runs beside it.
pub(crate) struct Gateway {
    pub(crate) router: Router,
    /// `/healthz`, `/readyz` and `/metrics` when `api.ops_listen` gives them a
    /// listener of their own; otherwise they are routes of `router`.
    ops_router: Option<Router>,
    queue: Queue,
    leases: Leases,
    readiness: GatewayReadiness,
    max_body_bytes: usize,
    connection_limits: ConnectionLimits,
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
        let registry = tasklane_tasks::Registry::built_in()
            .enabled(settings.tasks.enabled.as_deref())
            .map_err(anyhow::Error::msg)?;
        let rules = Rules::new(registry, &settings.limits, api.max_batch);
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
        let leases = intake.leases();
        let readiness = GatewayReadiness::new(queue.clone(), store.clone(), shutdown);
        let state = AppState::new(
            intake,
            Canceller::new(store.clone(), metrics.cancelled),
            queue.clone(),
            store,
            BodyLimit::new(api.max_body_bytes, api.max_in_flight_body_bytes),
        );
        let ops = ops::router(readiness.clone(), metrics.base);
        let (public_ops, ops_router) = match api.ops_listen {
            Some(_) => (None, Some(ops_only(ops))),
            None => (Some(ops), None),
        };
        Ok(Self {
            router: router(state, public_ops, metrics.http, api, authenticator),
            ops_router,
            queue,
            leases,
            readiness,
            max_body_bytes: api.max_body_bytes,
            connection_limits: ConnectionLimits {
                header_timeout: api.header_timeout,
                max_connections: api.max_connections,
            },
        })
    }
}

impl Application {
    /// Connects (see [`Gateway::connect`]) and binds `api.listen`, and
    /// `api.ops_listen` when set.
    pub async fn build(settings: Settings, shutdown: CancellationToken) -> anyhow::Result<Self> {
        let gateway = Gateway::connect(&settings, shutdown.clone()).await?;
        let listener = bind(settings.api.listen).await?;
        let ops_listener = match settings.api.ops_listen {
            Some(address) => Some(bind(address).await?),
            None => None,
        };
        Ok(Self {
            listener,
            ops_listener,
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

    /// Where `/healthz`, `/readyz` and `/metrics` are served: the ops listener's
    /// address, or [`Application::local_addr`] when there is none.
    pub fn ops_addr(&self) -> SocketAddr {
        self.ops_listener.as_ref().map_or_else(
            || self.local_addr(),
            |l| l.local_addr().expect("bound listener has an address"),
        )
    }

    /// Serves until the shutdown token is cancelled, then stops accepting, lets
    /// in-flight requests finish (each is bounded by `api.request_timeout`) and returns.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        let address = self.local_addr();
        let Gateway {
            router,
            ops_router,
            queue,
            leases,
            readiness,
            max_body_bytes,
            connection_limits,
        } = self.gateway;
        let server = queue.clone();
        tokio::spawn(async move {
            readiness.await_work_stream().await;
            warn_if_body_limit_exceeds_max_payload(&server, max_body_bytes);
        });
        tracing::info!(%address, "gateway listening");
        // The ops listener outlives the public one, so probes and scrapes still see
        // the drain.
        let ops_stop = CancellationToken::new();
        let ops_server = self.ops_listener.zip(ops_router).map(|(listener, ops)| {
            let address = listener
                .local_addr()
                .expect("bound listener has an address");
            tracing::info!(%address, "gateway health and metrics listening");
            tokio::spawn(serve(listener, ops, connection_limits, ops_stop.clone()))
        });
        serve(self.listener, router, connection_limits, self.shutdown).await;
        // What this gateway's leases hold goes back to the tenants' shared budgets now,
        // not at the leases' expiry.
        leases.give_back().await;
        ops_stop.cancel();
        if let Some(ops_server) = ops_server {
            ops_server.await.context("health server task")?;
        }
        // Publishes were all awaited for their PubAck; flushing is for anything else
        // still buffered (nothing should be).
        let _ = tokio::time::timeout(Duration::from_secs(2), queue.flush()).await;
        tracing::info!("gateway stopped");
        Ok(())
    }
}

async fn bind(address: SocketAddr) -> anyhow::Result<TcpListener> {
    TcpListener::bind(address)
        .await
        .with_context(|| format!("binding {address}"))
}

/// A body the gateway takes but NATS would refuse is answered 413 after it was read
/// and validated; say so once, so the operator can align the two limits.
fn warn_if_body_limit_exceeds_max_payload(queue: &Queue, max_body_bytes: usize) {
    if let Some(max_payload) = queue.max_payload().filter(|&max| max_body_bytes > max) {
        tracing::warn!(
            max_body_bytes,
            max_payload,
            "api.max_body_bytes is larger than the NATS server's max_payload: tasks near the body limit will be refused with 413; lower api.max_body_bytes or raise max_payload"
        );
    }
}
