//! The pull loop: pull requests ask only for messages there are free concurrency
//! permits for, so a worker never holds more tasks than it runs, and drains on
//! shutdown. The requests go out on one long-lived subscription ([`pull`]).

use std::sync::Arc;
use std::time::Duration;

use tasklane_core::config::TopologyManagement;
use tasklane_core::queue::Topology;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::delivery;
use crate::pull::{self, Pulled, Puller};
use crate::state::AppState;

/// Pulls and processes until `shutdown` fires, then waits up to the grace period for
/// running tasks, hands the rest back, and returns.
pub async fn run(
    ctx: Arc<AppState>,
    shutdown: CancellationToken,
    ready: Arc<std::sync::atomic::AtomicBool>,
) {
    let concurrency = ctx.settings.worker.concurrency;
    let permits = Arc::new(Semaphore::new(concurrency));
    // While messages are still owed, a refill waits for a few freed permits instead
    // of sending a pull request for each one.
    let refill = (concurrency / 16).max(1) as u32;
    let mut running = JoinSet::new();

    'connect: while !shutdown.is_cancelled() {
        let consumer = tokio::select! {
            _ = shutdown.cancelled() => break,
            consumer = bind(&ctx, &shutdown) => match consumer { Some(c) => c, None => break },
        };
        ready.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(concurrency, "pulling tasks");

        'open: loop {
            let mut puller = match Puller::open(consumer.clone(), ctx.queue.context().clone()).await
            {
                Ok(puller) => puller,
                Err(e) => {
                    tracing::warn!(error = %e, "could not pull; re-binding the consumer");
                    pause(&shutdown, Duration::from_secs(1)).await;
                    continue 'connect;
                }
            };
            loop {
                // Reap finished tasks so the set does not grow without bound.
                while running.try_join_next().is_some() {}
                let wanted = if puller.owed() == 0 { 1 } else { refill };
                tokio::select! {
                    _ = shutdown.cancelled() => {
                        puller.close().await;
                        break 'connect;
                    }
                    permit = permits.clone().acquire_many_owned(wanted) => {
                        let mut permit = permit.expect("semaphore is never closed");
                        // Let the deliveries finishing alongside this one free their
                        // permits too, then ask for every free one in one request.
                        tokio::task::yield_now().await;
                        let free = permits.available_permits() as u32;
                        if let Ok(more) = permits.clone().try_acquire_many_owned(free) {
                            permit.merge(more);
                        }
                        if let Err(e) = puller.request(permit).await {
                            tracing::warn!(error = %e, "could not pull; re-binding the consumer");
                            pause(&shutdown, Duration::from_secs(1)).await;
                            continue 'connect;
                        }
                    }
                    pulled = puller.next() => match pulled {
                        Ok(Pulled::Message(message, permit)) => {
                            let ctx = ctx.clone();
                            ctx.metrics.in_flight.inc();
                            running.spawn(async move {
                                let metrics = ctx.metrics.clone();
                                delivery::handle(ctx, message).await;
                                metrics.in_flight.dec();
                                drop(permit);
                            });
                        }
                        Ok(Pulled::Unasked(message)) => {
                            tracing::warn!(subject = %message.subject, "a message no pull asked for; handing it back");
                            pull::hand_back(&message).await;
                        }
                        Err(e) => {
                            // Missed heartbeats, a request the server ended, and
                            // similar: the owed permits are freed with this puller,
                            // and a new one pulls once NATS answers again.
                            tracing::warn!(error = %e, "pull error");
                            pause(&shutdown, Duration::from_millis(200)).await;
                            continue 'open;
                        }
                    },
                }
            }
        }
    }

    drain(&ctx, running).await;
}

async fn bind(
    ctx: &AppState,
    shutdown: &CancellationToken,
) -> Option<async_nats::jetstream::consumer::Consumer<async_nats::jetstream::consumer::pull::Config>>
{
    let mut delay = Duration::from_millis(100);
    loop {
        let attempt = async {
            // In verify mode start-up checked the topology; a re-bind only binds.
            if ctx.settings.topology.manage == TopologyManagement::Declare {
                ctx.queue.declare(&Topology::new(&ctx.settings)).await?;
            }
            ctx.queue.consumer().await
        };
        match attempt.await {
            Ok(consumer) => return Some(consumer),
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = delay.as_millis() as u64, "consumer not available yet")
            }
        }
        if !pause(shutdown, delay).await {
            return None;
        }
        delay = (delay * 2).min(Duration::from_secs(5));
    }
}

/// Sleeps unless shutdown comes first; false if it did.
async fn pause(shutdown: &CancellationToken, delay: Duration) -> bool {
    tokio::select! {
        _ = shutdown.cancelled() => false,
        _ = tokio::time::sleep(delay) => true,
    }
}

/// Lets running tasks finish within the grace period, then fires the hand-back so
/// the stragglers nak themselves, and waits for that.
async fn drain(ctx: &AppState, mut running: JoinSet<()>) {
    let grace = ctx.settings.worker.shutdown_grace;
    tracing::info!(
        in_flight = running.len(),
        grace_ms = grace.as_millis() as u64,
        "draining"
    );
    let all_done = async { while running.join_next().await.is_some() {} };
    if tokio::time::timeout(grace, all_done).await.is_err() {
        tracing::warn!(
            still_running = running.len(),
            "grace period over; handing tasks back"
        );
        ctx.grace_over.cancel();
        // Hand-backs are quick (a nak each); bound the wait anyway.
        let _ = tokio::time::timeout(Duration::from_secs(5), async {
            while running.join_next().await.is_some() {}
        })
        .await;
        running.abort_all();
    }
    // Acks are fire-and-forget: push them out before the connection goes away.
    let _ = tokio::time::timeout(Duration::from_secs(2), ctx.queue.flush()).await;
    tracing::info!("drained");
}
