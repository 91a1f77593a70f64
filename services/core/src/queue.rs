//! NATS JetStream: connecting, publishing with a PubAck, the topology the worker
//! declares (see [`topology`]), and reading queue depth.

mod dead_letters;
mod error;
mod message;
mod topology;

use std::time::Duration;

use async_nats::jetstream::ErrorCode;
use async_nats::jetstream::context::{ConsumerInfoErrorKind, GetStreamErrorKind, PublishErrorKind};
use async_nats::jetstream::{self, consumer};
use async_nats::{ConnectOptions, HeaderMap};
use bytes::Bytes;

pub use dead_letters::{DeadLetter, DeadLetterFilter};
pub use error::{BoxError, QueueError};
pub use message::TaskMessage;
pub use topology::Topology;

use crate::config::{NatsSettings, Settings};
use crate::names::{self, CONSUMER_NAME};

/// Depth of the work queue, as `GET /stats` and the worker's gauges report it.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct QueueDepth {
    /// Not yet delivered to any worker.
    pub pending: u64,
    /// Delivered and not yet acknowledged (running, or waiting for a delayed retry).
    pub in_flight: u64,
    /// Delivered more than once and not yet acknowledged.
    pub redelivered: u64,
    /// Pull requests waiting on the consumer: roughly the idle workers.
    pub waiting_pulls: u64,
    /// Age of the oldest task still in the work stream, in seconds.
    pub oldest_age_seconds: f64,
}

impl QueueDepth {
    /// Tasks accepted and not yet acknowledged.
    pub fn backlog(&self) -> u64 {
        self.pending + self.in_flight
    }
}

/// Connects with unlimited reconnects. The first connect is retried in the
/// background too, so a binary started before NATS becomes ready once NATS is up.
async fn connect(settings: &NatsSettings, name: &str) -> Result<async_nats::Client, QueueError> {
    let mut options = match &settings.credentials_file {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|source| QueueError::Credentials {
                path: path.clone(),
                source,
            })?,
        None => ConnectOptions::new(),
    };
    if let Some(token) = &settings.token {
        options = options.token(token.expose().to_string());
    }
    if let (Some(user), Some(password)) = (&settings.user, &settings.password) {
        options = options.user_and_password(user.clone(), password.expose().to_string());
    }
    if let Some(ca) = &settings.tls.ca_file {
        options = options.add_root_certificates(ca.clone()).require_tls(true);
    }
    if let (Some(cert), Some(key)) = (&settings.tls.cert_file, &settings.tls.key_file) {
        options = options.add_client_certificate(cert.clone(), key.clone());
    }
    let servers: Vec<async_nats::ServerAddr> = settings
        .url
        .split(',')
        .map(str::trim)
        .filter(|u| !u.is_empty())
        .map(|u| u.parse())
        .collect::<Result<_, _>>()
        .map_err(QueueError::ServerUrl)?;
    options
        .name(name)
        // Replies come to an inbox under the client's own name, so each binary's NATS
        // user can be allowed its own replies and not the other's.
        .custom_inbox_prefix(names::inbox_prefix(name))
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        // The client gives up on a connection after two unanswered pings, on the
        // third tick: a stalled node is left within three intervals.
        .ping_interval(settings.ping_interval)
        .reconnect_delay_callback(|attempts| {
            // Quick first retries so a restarted server is picked up within a second;
            // capped so a long outage does not hammer it.
            Duration::from_millis((50 * 2u64.saturating_pow(attempts.min(6) as u32)).min(2_000))
        })
        .connect(servers)
        .await
        .map_err(QueueError::Connect)
}

/// The work queue: a JetStream context plus the stream it operates on.
#[derive(Clone)]
pub struct Queue {
    js: jetstream::Context,
    client: async_nats::Client,
    stream_name: String,
    publish_timeout: Duration,
}

impl Queue {
    /// Connects to NATS as client `name` (see [`connect`]) and returns the queue of
    /// the stream named in `settings`; publishes wait up to `publish_timeout` for
    /// their PubAck.
    pub async fn connect(
        settings: &Settings,
        name: &str,
        publish_timeout: Duration,
    ) -> Result<Self, QueueError> {
        let client = connect(&settings.nats, name).await?;
        Ok(Self {
            js: jetstream::ContextBuilder::new()
                .timeout(publish_timeout)
                .ack_timeout(publish_timeout)
                .build(client.clone()),
            client,
            stream_name: settings.stream.name.clone(),
            publish_timeout,
        })
    }

    /// The work stream's name.
    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    /// Whether the client holds a connection right now.
    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// The largest message the connected server takes (`max_payload` of its INFO);
    /// `None` before the first connection.
    pub fn max_payload(&self) -> Option<usize> {
        Some(self.client.server_info().max_payload).filter(|&max| max > 0)
    }

    /// Sends whatever the client still buffers (acks are fire-and-forget), before the
    /// connection goes away.
    pub async fn flush(&self) -> Result<(), QueueError> {
        self.client.flush().await.map_err(QueueError::Flush)
    }

    /// Creates or updates the streams and the consumer (the worker's job; see
    /// [`topology`]).
    pub async fn declare(&self, topology: &Topology) -> Result<(), QueueError> {
        topology::declare(&self.js, topology).await
    }

    /// Checks that the streams and the consumer are as `topology` describes, changing
    /// nothing (see [`topology`]).
    pub async fn verify(&self, topology: &Topology) -> Result<(), QueueError> {
        topology::verify(&self.js, topology).await
    }

    /// Whether the work stream exists yet. The gateway asks this instead of declaring
    /// the stream itself.
    pub async fn work_stream_exists(&self) -> Result<bool, QueueError> {
        match self.js.get_stream(&self.stream_name).await {
            Ok(_) => Ok(true),
            Err(error) => match error.kind() {
                GetStreamErrorKind::JetStream(e)
                    if e.error_code() == ErrorCode::STREAM_NOT_FOUND =>
                {
                    Ok(false)
                }
                _ => Err(QueueError::GetStream {
                    stream: self.stream_name.clone(),
                    source: error,
                }),
            },
        }
    }

    /// The shared consumer, for workers to pull from.
    pub async fn consumer(&self) -> Result<consumer::Consumer<consumer::pull::Config>, QueueError> {
        let stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|source| QueueError::GetStream {
                stream: self.stream_name.clone(),
                source,
            })?;
        stream
            .get_consumer(CONSUMER_NAME)
            .await
            .map_err(|source| QueueError::GetConsumer {
                consumer: CONSUMER_NAME,
                source,
            })
    }

    /// Publishes a task and waits for the PubAck.
    pub async fn publish_task(&self, message: &TaskMessage) -> Result<(), QueueError> {
        self.publish(
            message.subject().to_string(),
            message.id(),
            message.headers(),
            message.body(),
        )
        .await
    }

    /// Publishes and waits for the PubAck. `msg_id` lets JetStream drop a duplicate
    /// publish of the same message within the duplicate window.
    pub async fn publish(
        &self,
        subject: String,
        msg_id: &str,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<(), QueueError> {
        // While disconnected the client would buffer the message and might deliver it
        // after we answered 503; refuse up front instead so 503 means "not accepted".
        if !self.is_connected() {
            return Err(QueueError::NotConnected);
        }
        // Measured before sending: the server would close the connection on an
        // oversized message, and every publish sharing it would fail with it.
        let size = body.len() + header_bytes(&headers) + msg_id.len();
        if let Some(max) = self.max_payload().filter(|&max| size > max) {
            return Err(QueueError::TooLarge { size, max });
        }
        let publish = jetstream::message::PublishMessage::build()
            .payload(body)
            .headers(headers)
            .message_id(msg_id);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| match e.kind() {
                PublishErrorKind::MaxPayloadExceeded => QueueError::TooLargeForServer(e),
                _ => QueueError::PublishNotSent(e),
            })?;
        // The PubAck wait is bounded by the context's ack timeout (`publish_timeout`);
        // a second timer here would cost one more timer entry per task.
        match ack.await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == PublishErrorKind::TimedOut => {
                Err(QueueError::PublishTimeout(self.publish_timeout))
            }
            Err(e) => Err(classify_publish_error(e)),
        }
    }

    /// Reads the consumer's and the stream's state. Before any worker declared the
    /// consumer, every message in the stream counts as pending.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let depth_error = |e: BoxError| QueueError::Depth(e);
        let mut stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| depth_error(e.into()))?;
        let consumer = match stream.consumer_info(CONSUMER_NAME).await {
            Ok(info) => Some(info),
            Err(e) if e.kind() == ConsumerInfoErrorKind::NotFound => None,
            Err(e) => return Err(depth_error(e.into())),
        };
        let state = &stream
            .info()
            .await
            .map_err(|e| depth_error(e.into()))?
            .state;
        let oldest_age_seconds = if state.messages == 0 {
            0.0
        } else {
            let first_ms = (state.first_timestamp.unix_timestamp_nanos() / 1_000_000) as i64;
            ((crate::task::now_millis() as i64 - first_ms).max(0) as f64) / 1000.0
        };
        Ok(match consumer {
            Some(consumer) => QueueDepth {
                pending: consumer.num_pending,
                in_flight: consumer.num_ack_pending as u64,
                redelivered: consumer.num_redelivered as u64,
                waiting_pulls: consumer.num_waiting as u64,
                oldest_age_seconds,
            },
            None => QueueDepth {
                pending: state.messages,
                oldest_age_seconds,
                ..QueueDepth::default()
            },
        })
    }
}

/// The bytes `headers` take on the wire, with the `NATS/1.0` line and the message id
/// header the publish adds: close enough to keep the size check on the safe side.
fn header_bytes(headers: &HeaderMap) -> usize {
    const FRAMING: usize = "NATS/1.0\r\n\r\n".len() + "Nats-Msg-Id: \r\n".len();
    FRAMING
        + headers
            .iter()
            .map(|(name, values)| {
                let name: &str = name.as_ref();
                values
                    .iter()
                    .map(|value| name.len() + value.as_str().len() + 4)
                    .sum::<usize>()
            })
            .sum::<usize>()
}

/// Refusals a client can act on get their own variant: a full stream (retry later)
/// and a message over the server's `max_payload` (never retry).
fn classify_publish_error(error: async_nats::jetstream::context::PublishError) -> QueueError {
    if error.kind() == PublishErrorKind::MaxPayloadExceeded {
        return QueueError::TooLargeForServer(error);
    }
    let refused = std::error::Error::source(&error)
        .and_then(|source| source.downcast_ref::<jetstream::Error>());
    match refused {
        // `discard: new` at max_msgs or max_bytes answers "maximum messages/bytes
        // exceeded" under the store-failed code; other store failures stay errors.
        Some(e)
            if (e.error_code() == ErrorCode::STREAM_STORE_FAILED
                && e.to_string().contains("maximum"))
                || e.error_code() == ErrorCode::STORAGE_RESOURCES_EXCEEDED =>
        {
            QueueError::Full(error)
        }
        _ => QueueError::Publish(error),
    }
}
