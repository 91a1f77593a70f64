//! In-progress acks: while a task is held (running, or waiting for Valkey), tell
//! JetStream every third of `ack_wait` that it is still being worked on, so it is not
//! redelivered to another worker.

use std::time::Duration;

use async_nats::jetstream::{AckKind, Message};
use tokio::task::JoinHandle;

/// Sends progress acks until dropped.
pub struct ProgressGuard(JoinHandle<()>);

impl ProgressGuard {
    pub fn start(message: &Message, ack_wait: Duration) -> Self {
        let message = message.clone();
        let every = ack_wait / 3;
        Self(tokio::spawn(async move {
            let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
            loop {
                ticker.tick().await;
                if let Err(e) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %e, "progress ack not sent");
                }
            }
        }))
    }
}

impl Drop for ProgressGuard {
    fn drop(&mut self) {
        self.0.abort();
    }
}
