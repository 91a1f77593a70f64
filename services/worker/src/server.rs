//! The worker's operational HTTP endpoints: `/healthz`, `/readyz`, `/metrics` (the
//! shared ops router), and the gauges that come from outside the process.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use tasklane_core::ops::{self, ReadinessCheck};
use tasklane_core::problem;
use tasklane_core::readiness::{Readiness, Unready, check_valkey};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

#[derive(Clone)]
pub struct ServerState {
    pub ctx: Arc<AppState>,
    /// The consumer is bound and pulling.
    pub pulling: Arc<AtomicBool>,
    pub shutdown: CancellationToken,
}

impl ReadinessCheck for ServerState {
    async fn check(&self) -> Readiness {
        let consumer = match self.pulling.load(Ordering::Acquire) {
            true => Ok(()),
            false => Err(Unready::ConsumerNotBound),
        };
        let (ctx, draining) = (&self.ctx, self.shutdown.is_cancelled());
        Readiness::check(&ctx.queue, consumer, &ctx.store, draining).await
    }
}

pub fn router(state: ServerState) -> Router {
    let metrics = state.ctx.metrics.base().clone();
    ops::router(state, metrics).fallback(problem::not_found)
}

/// Refreshes the gauges that come from outside the process (queue depth, dependency
/// health) so dashboards and autoscalers see them without a request to `/stats`.
pub async fn refresh_gauges(ctx: Arc<AppState>, shutdown: CancellationToken, every: Duration) {
    loop {
        let nats_up = ctx.queue.is_connected();
        ctx.metrics.base().set_dependency("nats", nats_up);
        let valkey_up = check_valkey(&ctx.store).await.is_ok();
        ctx.metrics.base().set_dependency("valkey", valkey_up);
        if nats_up && let Ok(depth) = ctx.queue.depth().await {
            ctx.metrics.backlog.set(depth.backlog() as i64);
            ctx.metrics.oldest_task_age.set(depth.oldest_age_seconds);
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(every) => {}
        }
    }
}
