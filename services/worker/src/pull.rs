//! One long-lived pull subscription per worker: pull requests for freed permits go
//! out on it and every message they bring arrives on it.
//!
//! A fresh `batch()` per refill costs a new inbox subscription, a pull request and an
//! unsubscribe, and at the default concurrency refills come a few permits at a time.
//! Here the inbox lives as long as the consumer binding; a refill is one pull request.
//!
//! Nothing is asked for without a permit: every message requested is covered by a
//! permit reserved for it, handed to the message when it arrives and freed when the
//! server reports it will not come (a request that expired or was cut short reports
//! how many of its messages it did not deliver). So a worker still never holds a
//! message it cannot start, and another worker gets it instead.

use std::time::Duration;

use async_nats::jetstream::consumer::Consumer;
use async_nats::jetstream::consumer::pull::{BatchConfig, Config};
use async_nats::jetstream::{self, AckKind};
use async_nats::{StatusCode, Subject, Subscriber};
use futures::{FutureExt, StreamExt};
use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

/// How long a pull request waits on the server for messages. Short, so a request
/// left behind by a killed worker cannot hold on to redeliveries for long.
const EXPIRES: Duration = Duration::from_secs(5);
/// The server's idle heartbeat for a waiting request.
const HEARTBEAT: Duration = Duration::from_secs(2);
/// Silence on the inbox while messages are still owed: the requests were lost (a
/// reconnect to a restarted server, a consumer that moved), so the subscription is
/// given up and opened afresh.
const SILENCE: Duration = Duration::from_secs(5);

/// What [`Puller::next`] brought.
pub enum Pulled {
    /// A message and the permit reserved for it.
    Message(jetstream::Message, OwnedSemaphorePermit),
    /// A message no request of ours asked for (never expected): not started.
    Unasked(jetstream::Message),
}

/// Why the subscription must be opened afresh.
#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error("could not subscribe to the pull inbox: {0}")]
    Subscribe(#[from] async_nats::SubscribeError),
    #[error("could not send a pull request: {0}")]
    Request(#[from] jetstream::consumer::pull::BatchRequestError),
    #[error("pull ended by the server: {status} {description}")]
    Ended {
        status: StatusCode,
        description: String,
    },
    #[error("no word from the server for {0:?} while messages were owed")]
    Silent(Duration),
    #[error("the pull inbox subscription closed")]
    Closed,
}

/// The inbox, its subscription, and the permits of the messages asked for on it.
pub struct Puller {
    consumer: Consumer<Config>,
    context: jetstream::Context,
    inbox: Subject,
    subscriber: Subscriber,
    /// One permit for each message requested and not yet delivered or given up.
    owed: Option<OwnedSemaphorePermit>,
    last_heard: Instant,
}

impl Puller {
    pub async fn open(
        consumer: Consumer<Config>,
        context: jetstream::Context,
    ) -> Result<Self, PullError> {
        let client = context.client();
        let inbox = Subject::from(client.new_inbox());
        let subscriber = client.subscribe(inbox.clone()).await?;
        Ok(Self {
            consumer,
            context,
            inbox,
            subscriber,
            owed: None,
            last_heard: Instant::now(),
        })
    }

    /// Messages asked for and not yet delivered.
    pub fn owed(&self) -> usize {
        self.owed.as_ref().map_or(0, |p| p.num_permits())
    }

    /// Asks for one message per permit in `permits`, which stay reserved for them.
    pub async fn request(&mut self, permits: OwnedSemaphorePermit) -> Result<(), PullError> {
        let batch = BatchConfig {
            batch: permits.num_permits(),
            expires: Some(EXPIRES),
            idle_heartbeat: HEARTBEAT,
            ..Default::default()
        };
        if self.owed() == 0 {
            // Nothing was owed, so the silence before now was not a lost request.
            self.last_heard = Instant::now();
        }
        match self.owed.as_mut() {
            Some(owed) => owed.merge(permits),
            None => self.owed = Some(permits),
        }
        // On failure the permits stay owed: the caller opens a new puller and this
        // one, permits and all, is dropped.
        self.consumer
            .request_batch(batch, self.inbox.clone())
            .await?;
        Ok(())
    }

    /// Waits for the next message. Cancel-safe: nothing is lost if the future is
    /// dropped before it completes.
    pub async fn next(&mut self) -> Result<Pulled, PullError> {
        loop {
            let received = if self.owed() > 0 {
                tokio::select! {
                    received = self.subscriber.next() => received,
                    _ = tokio::time::sleep_until(self.last_heard + SILENCE) => {
                        return Err(PullError::Silent(SILENCE));
                    }
                }
            } else {
                self.subscriber.next().await
            };
            let message = received.ok_or(PullError::Closed)?;
            self.last_heard = Instant::now();
            match message.status.unwrap_or(StatusCode::OK) {
                StatusCode::OK => {
                    let message = jetstream::Message {
                        message,
                        context: self.context.clone(),
                    };
                    return Ok(match self.owed.as_mut().and_then(|p| p.split(1)) {
                        Some(permit) => Pulled::Message(message, permit),
                        None => Pulled::Unasked(message),
                    });
                }
                StatusCode::IDLE_HEARTBEAT => {}
                // A request expired (408) or was cut short (409) with part of its
                // batch undelivered: those permits are free again.
                status @ (StatusCode::TIMEOUT | StatusCode::REQUEST_TERMINATED) => {
                    let undelivered = message
                        .headers
                        .as_ref()
                        .and_then(|headers| headers.get("Nats-Pending-Messages"))
                        .and_then(|n| n.as_str().parse::<usize>().ok());
                    match undelivered {
                        Some(n) => drop(self.owed.as_mut().and_then(|p| p.split(n))),
                        // Without the count the reservation cannot be kept right.
                        None => return Err(ended(status, message.description)),
                    }
                }
                status => return Err(ended(status, message.description)),
            }
        }
    }

    /// Stops the subscription and hands back the messages it already received.
    pub async fn close(mut self) {
        if let Err(e) = self.subscriber.unsubscribe().await {
            tracing::debug!(error = %e, "pull inbox not unsubscribed");
        }
        while let Some(Some(message)) = self.subscriber.next().now_or_never() {
            if message.status.is_some_and(|s| s != StatusCode::OK) {
                continue;
            }
            let message = jetstream::Message {
                message,
                context: self.context.clone(),
            };
            hand_back(&message).await;
        }
    }
}

fn ended(status: StatusCode, description: Option<String>) -> PullError {
    PullError::Ended {
        status,
        description: description.unwrap_or_default(),
    }
}

/// Returns `message` for immediate redelivery, to this worker or another.
pub async fn hand_back(message: &jetstream::Message) {
    if let Err(e) = message.ack_with(AckKind::Nak(None)).await {
        tracing::debug!(error = %e, "message not handed back; redelivered after ack_wait");
    }
}
