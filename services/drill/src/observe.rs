//! Watches accepted tasks through the gateway until each is seen final, so the
//! checker knows which outcomes the system had already shown to clients (an outcome
//! shown once and gone later is an acknowledged outcome lost) and when service
//! resumed after a fault.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio_util::sync::CancellationToken;

use crate::background::Background;
use crate::gateway::Gateways;
use crate::mix::Final;
use crate::run_log::RunLog;

/// Reads at once, so a backlog after an outage is caught up quickly without
/// flooding a gateway that is itself recovering.
const CONCURRENT_READS: usize = 8;
const ROUND_PAUSE: Duration = Duration::from_millis(200);

pub fn start(gateways: Arc<Gateways>, log: Arc<RunLog>) -> Background {
    Background::spawn(move |stop| observe(gateways, log, stop))
}

async fn observe(gateways: Arc<Gateways>, log: Arc<RunLog>, stop: CancellationToken) {
    while !stop.is_cancelled() {
        let pending = log.pending();
        let round = futures::stream::iter(pending)
            .map(|id| {
                let gateways = gateways.clone();
                async move {
                    let view = gateways.task(&id).await.ok().flatten();
                    (id, view)
                }
            })
            .buffer_unordered(CONCURRENT_READS)
            .for_each(|(id, view)| {
                if let Some(view) = view.filter(|v| Final::parse(&v.status).is_some()) {
                    log.seen_final(&id, &view.status);
                }
                std::future::ready(())
            });
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = round => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(ROUND_PAUSE) => {}
        }
    }
}

/// Waits until every accepted task has been seen final, or `deadline`.
pub async fn wait_all_final(log: &RunLog, deadline: Duration) -> bool {
    let started = tokio::time::Instant::now();
    loop {
        if log.pending().is_empty() {
            return true;
        }
        if started.elapsed() > deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}
