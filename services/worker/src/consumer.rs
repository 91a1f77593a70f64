//! The pull loop: each pull asks for as many messages as there are free concurrency
//! permits, so a worker never holds more tasks than it runs, and drains on shutdown.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use futures::{FutureExt, StreamExt};
use tasklane_core::config::TopologyManagement;
use tasklane_core::queue::Topology;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::delivery;
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
    let mut running = JoinSet::new();

    'connect: while !shutdown.is_cancelled() {
        let consumer = tokio::select! {
            _ = shutdown.cancelled() => break,
            consumer = bind(&ctx, &shutdown) => match consumer { Some(c) => c, None => break },
        };
        ready.store(true, std::sync::atomic::Ordering::Release);
        tracing::info!(concurrency, "pulling tasks");

        loop {
            // Reap finished tasks so the set does not grow without bound.
            while running.try_join_next().is_some() {}
            // Wait for one free slot, then take every slot free now: each pull asks
            // for exactly as many messages as can start at once, so no message waits
            // in this worker's buffer (its ack wait running) while another worker is
            // idle.
            let first = tokio::select! {
                _ = shutdown.cancelled() => break 'connect,
                permit = permits.clone().acquire_owned() => permit.expect("semaphore is never closed"),
            };
            let mut slots = vec![first];
            while let Ok(permit) = permits.clone().try_acquire_owned() {
                slots.push(permit);
            }
            let mut batch = match consumer
                .batch()
                .max_messages(slots.len())
                // Short-lived pull requests: a request left behind by a killed worker
                // cannot hold on to redeliveries for long. No idle heartbeat: the
                // batch of async-nats 0.51 swallows one without asking to be woken
                // for the next message, so a task arriving after it waited until the
                // batch's own timer ended it (its messages dropped, redelivered only
                // after ack_wait); and a batch does nothing with heartbeats anyway.
                .expires(Duration::from_secs(5))
                .messages()
                .await
            {
                Ok(batch) => batch,
                Err(e) => {
                    tracing::warn!(error = %e, "could not pull; re-binding the consumer");
                    pause(&shutdown, Duration::from_secs(1)).await;
                    continue 'connect;
                }
            };
            loop {
                let next = tokio::select! {
                    _ = shutdown.cancelled() => {
                        hand_back_buffered(&mut batch).await;
                        break 'connect;
                    }
                    next = batch.next() => next,
                };
                match next {
                    Some(Ok(message)) => {
                        let permit = slots
                            .pop()
                            .expect("a pull never brings more messages than it asked for");
                        let ctx = ctx.clone();
                        ctx.metrics.in_flight.inc();
                        running.spawn(async move {
                            let metrics = ctx.metrics.clone();
                            delivery::handle(ctx, message).await;
                            metrics.in_flight.dec();
                            drop(permit);
                        });
                    }
                    Some(Err(e)) => {
                        // Missed heartbeats and similar: the next pull goes out once
                        // NATS answers again.
                        tracing::warn!(error = %e, "pull error");
                        pause(&shutdown, Duration::from_millis(200)).await;
                        break;
                    }
                    // The pull is complete or expired; unused slots are freed here.
                    None => break,
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

/// Messages the client already received but no task took: give them straight back.
async fn hand_back_buffered<E>(
    messages: &mut (impl futures::Stream<Item = Result<async_nats::jetstream::Message, E>> + Unpin),
) {
    while let Some(Some(Ok(message))) = messages.next().now_or_never() {
        if let Err(e) = message.ack_with(AckKind::Nak(None)).await {
            tracing::debug!(error = %e, "buffered message not handed back; redelivered after ack_wait");
        }
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
