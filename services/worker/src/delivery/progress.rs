//! In-progress acks: while a task is held (running, or waiting for Valkey), tell
//! JetStream every third of `ack_wait` that it is still being worked on, so it is not
//! redelivered to another worker.

use std::future::Future;
use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio::time::Instant;

/// Runs `work` to completion, sending a progress ack for `message` every third of
/// `ack_wait` meanwhile.
///
/// The timer lives inside the delivery's own future rather than in a spawned task: a
/// task per message plus a clone of the message (headers and all) was a measurable
/// share of the worker's CPU at tens of thousands of tasks per second. Handlers are
/// async and must not block a runtime thread, so the timer is polled on time.
pub async fn while_held<F: Future>(message: &Message, ack_wait: Duration, work: F) -> F::Output {
    let every = ack_wait / 3;
    let tick = tokio::time::sleep(every);
    tokio::pin!(work, tick);
    loop {
        tokio::select! {
            biased;
            output = &mut work => return output,
            _ = &mut tick => {
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, "progress ack not sent");
                }
                tick.as_mut().reset(Instant::now() + every);
            }
        }
    }
}
