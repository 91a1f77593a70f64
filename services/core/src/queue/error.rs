//! Why a NATS operation failed: the variant says what was being done, the source is
//! the client's own error (kind and all).

use std::path::PathBuf;
use std::time::Duration;

use async_nats::jetstream::context::{
    CreateStreamError, GetStreamError, PublishError, PublishErrorKind,
};
use async_nats::jetstream::stream::ConsumerError;

/// An error of the client, for operations whose error types differ between calls.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A failed NATS or JetStream operation. Messages carry their source's text too, so a
/// log line that prints only the top error still says what happened.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The credentials file named by `nats.credentials_file` could not be read.
    #[error("nats credentials file {}: {source}", path.display())]
    Credentials {
        /// The file.
        path: PathBuf,
        /// Why it could not be used.
        source: std::io::Error,
    },
    /// An entry of `nats.url` is not a server address.
    #[error("nats.url: {0}")]
    ServerUrl(#[source] std::io::Error),
    /// The client could not be set up.
    #[error("nats connect: {0}")]
    Connect(#[source] async_nats::ConnectError),
    /// The client is between connections; a publish now might be delivered after we
    /// answered, so it is refused instead.
    #[error("nats is not connected")]
    NotConnected,
    /// JetStream did not acknowledge the publish in time; it may or may not be stored.
    #[error("publish was not acknowledged within {0:?}")]
    PublishTimeout(Duration),
    /// The client refused the publish before sending it (too many PubAcks
    /// outstanding, shutting down; over `max_payload` is [`Self::TooLargeForServer`]):
    /// certainly not stored.
    #[error("publish not sent: {0}")]
    PublishNotSent(#[source] PublishError),
    /// The work stream is at its `max_msgs` or `max_bytes` (or the server is out of
    /// storage): nothing was stored.
    #[error("the work stream is full: {0}")]
    Full(#[source] PublishError),
    /// The message is larger than the server's `max_payload`; it was not sent.
    #[error("message of {size} bytes is over the server's max_payload of {max}")]
    TooLarge {
        /// The message's size, headers included.
        size: usize,
        /// The server's `max_payload`.
        max: usize,
    },
    /// The client refused the message as over the server's `max_payload`.
    #[error("message over the server's max_payload: {0}")]
    TooLargeForServer(#[source] PublishError),
    /// Waiting for the PubAck failed: JetStream refused the message, or the answer
    /// was lost (then it may or may not be stored).
    #[error("publish failed: {0}")]
    Publish(#[source] PublishError),
    /// A stream could not be created or updated.
    #[error("declaring stream {stream}: {source}")]
    DeclareStream {
        /// The stream.
        stream: String,
        /// The client's error.
        source: CreateStreamError,
    },
    /// A stream could not be looked up.
    #[error("looking up stream {stream}: {source}")]
    GetStream {
        /// The stream.
        stream: String,
        /// The client's error.
        source: GetStreamError,
    },
    /// The consumer could not be created or updated.
    #[error("declaring consumer {consumer}: {source}")]
    DeclareConsumer {
        /// The consumer.
        consumer: &'static str,
        /// The client's error.
        source: ConsumerError,
    },
    /// The consumer could not be bound (it may not exist yet).
    #[error("binding consumer {consumer}: {source}")]
    GetConsumer {
        /// The consumer.
        consumer: &'static str,
        /// The client's error.
        source: BoxError,
    },
    /// A stream or the consumer that `topology.manage = "verify"` expects does not
    /// exist.
    #[error(
        "{0} does not exist; declare the topology first (`tasklane-worker --declare-topology` with a NATS user that may manage streams)"
    )]
    TopologyMissing(String),
    /// A stream or the consumer exists with settings other than the configured ones.
    #[error(
        "{what} differs from the configuration ({differences}); declare the topology again (`tasklane-worker --declare-topology`) or fix the configuration"
    )]
    TopologyDiffers {
        /// The stream or consumer.
        what: String,
        /// Each differing setting, with both values.
        differences: String,
    },
    /// The stream's or the consumer's state could not be read.
    #[error("reading queue depth: {0}")]
    Depth(#[source] BoxError),
    /// The dead-letter stream could not be read.
    #[error("reading the dead-letter stream: {0}")]
    DeadLetters(#[source] BoxError),
    /// Buffered messages could not be flushed to the server.
    #[error("flushing to nats: {0}")]
    Flush(#[source] async_nats::client::FlushError),
}

impl QueueError {
    /// Whether this publish error proves that JetStream did not store the message:
    /// it was refused before it was handed to the connection, nobody answered the
    /// subject (no stream, so nothing could store it), or JetStream answered with an
    /// error. A timeout, a lost connection or an unreadable answer leave the outcome
    /// unknown: the message may be stored.
    pub fn publish_not_stored(&self) -> bool {
        match self {
            Self::NotConnected
            | Self::PublishNotSent(_)
            | Self::Full(_)
            | Self::TooLarge { .. }
            | Self::TooLargeForServer(_) => true,
            Self::Publish(error) => match error.kind() {
                PublishErrorKind::StreamNotFound
                | PublishErrorKind::WrongLastMessageId
                | PublishErrorKind::WrongLastSequence => true,
                PublishErrorKind::Other => std::error::Error::source(error)
                    .is_some_and(|source| source.is::<async_nats::jetstream::Error>()),
                _ => false,
            },
            _ => false,
        }
    }
}
