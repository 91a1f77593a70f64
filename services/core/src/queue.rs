//! NATS JetStream: connecting, declaring the work stream, the dead-letter stream and
//! the shared consumer, publishing with a PubAck, and reading queue depth.

use std::time::Duration;

use async_nats::jetstream::{self, consumer, stream};
use async_nats::{ConnectOptions, HeaderMap};
use bytes::Bytes;

use crate::config::{NatsSettings, Settings};
use crate::names::{self, CONSUMER_NAME, DEAD_LETTER_SUBJECT_PREFIX, TASK_SUBJECT_PREFIX};

/// How long dead letters are kept for inspection and replay.
const DEAD_LETTER_MAX_AGE: Duration = Duration::from_secs(14 * 24 * 3600);
/// Upper bound on unacknowledged messages across all workers. Tasks waiting for a
/// delayed retry count against it, so it must be far above the total concurrency or
/// a burst of failing tasks would stall healthy ones.
const CONSUMER_MAX_ACK_PENDING: i64 = 100_000;

#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    #[error("nats is not connected")]
    NotConnected,
    #[error("publish was not acknowledged within {0:?}")]
    PublishTimeout(Duration),
    #[error("publish failed: {0}")]
    Publish(String),
    #[error("stream setup failed: {0}")]
    Setup(String),
    #[error("queue info unavailable: {0}")]
    Info(String),
    #[error("nats connect: {0}")]
    Connect(String),
}

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
    pub fn backlog(&self) -> u64 {
        self.pending + self.in_flight
    }
}

/// Connects with unlimited reconnects. The first connect is retried in the
/// background too, so a binary started before NATS becomes ready once NATS is up.
pub async fn connect(
    settings: &NatsSettings,
    name: &str,
) -> Result<async_nats::Client, QueueError> {
    let mut options = match &settings.credentials_file {
        Some(path) => ConnectOptions::with_credentials_file(path)
            .await
            .map_err(|e| {
                QueueError::Connect(format!("credentials file {}: {e}", path.display()))
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
        .map_err(|e| QueueError::Connect(format!("nats.url: {e}")))?;
    options
        .name(name)
        .retry_on_initial_connect()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(2))
        .ping_interval(Duration::from_secs(10))
        .reconnect_delay_callback(|attempts| {
            // Quick first retries so a restarted server is picked up within a second;
            // capped so a long outage does not hammer it.
            Duration::from_millis((50 * 2u64.saturating_pow(attempts.min(6) as u32)).min(2_000))
        })
        .connect(servers)
        .await
        .map_err(|e| QueueError::Connect(e.to_string()))
}

pub fn is_connected(client: &async_nats::Client) -> bool {
    client.connection_state() == async_nats::connection::State::Connected
}

pub fn jetstream(client: async_nats::Client, timeout: Duration) -> jetstream::Context {
    jetstream::ContextBuilder::new()
        .timeout(timeout)
        .ack_timeout(timeout)
        .build(client)
}

/// The work queue: a JetStream context plus the names it operates on.
#[derive(Clone)]
pub struct Queue {
    js: jetstream::Context,
    client: async_nats::Client,
    stream_name: String,
    dead_letter_stream_name: String,
    publish_timeout: Duration,
}

impl Queue {
    pub fn new(client: async_nats::Client, settings: &Settings, publish_timeout: Duration) -> Self {
        Self {
            js: jetstream(client.clone(), publish_timeout),
            client,
            stream_name: settings.stream.name.clone(),
            dead_letter_stream_name: settings.stream.dead_letter_name(),
            publish_timeout,
        }
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn stream_name(&self) -> &str {
        &self.stream_name
    }

    pub fn is_connected(&self) -> bool {
        is_connected(&self.client)
    }

    /// Creates or updates the work stream, the dead-letter stream and the consumer so
    /// they match `settings`. Safe to run from any number of replicas at once.
    pub async fn ensure_topology(&self, settings: &Settings) -> Result<(), QueueError> {
        let setup = |e: &dyn std::fmt::Display| QueueError::Setup(e.to_string());
        let work = stream::Config {
            name: self.stream_name.clone(),
            subjects: vec![names::all_subjects(TASK_SUBJECT_PREFIX)],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            num_replicas: settings.stream.replicas,
            duplicate_window: settings.stream.duplicate_window,
            description: Some("tasklane work queue".into()),
            ..Default::default()
        };
        let dead = stream::Config {
            name: self.dead_letter_stream_name.clone(),
            subjects: vec![names::all_subjects(DEAD_LETTER_SUBJECT_PREFIX)],
            retention: stream::RetentionPolicy::Limits,
            storage: stream::StorageType::File,
            num_replicas: settings.stream.replicas,
            duplicate_window: settings.stream.duplicate_window,
            max_age: DEAD_LETTER_MAX_AGE,
            description: Some("tasklane dead letters".into()),
            ..Default::default()
        };
        self.js
            .create_or_update_stream(work)
            .await
            .map_err(|e| setup(&e))?;
        self.js
            .create_or_update_stream(dead)
            .await
            .map_err(|e| setup(&e))?;
        let stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| setup(&e))?;
        stream
            .create_consumer(self.consumer_config(settings))
            .await
            .map_err(|e| setup(&e))?;
        Ok(())
    }

    fn consumer_config(&self, settings: &Settings) -> consumer::pull::Config {
        consumer::pull::Config {
            durable_name: Some(CONSUMER_NAME.to_string()),
            description: Some("tasklane workers".into()),
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: settings.worker.ack_wait,
            // Attempts are counted in Valkey, where a crash mid-attempt still counts;
            // the worker dead-letters from there, so the server must never drop a
            // message on its own.
            max_deliver: -1,
            max_ack_pending: CONSUMER_MAX_ACK_PENDING,
            filter_subject: names::all_subjects(TASK_SUBJECT_PREFIX),
            ..Default::default()
        }
    }

    /// The shared consumer, for workers to pull from.
    pub async fn consumer(&self) -> Result<consumer::Consumer<consumer::pull::Config>, QueueError> {
        let stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| QueueError::Setup(e.to_string()))?;
        stream
            .get_consumer(CONSUMER_NAME)
            .await
            .map_err(|e| QueueError::Setup(e.to_string()))
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
        let publish = jetstream::message::PublishMessage::build()
            .payload(body)
            .headers(headers)
            .message_id(msg_id);
        let ack = self
            .js
            .send_publish(subject, publish)
            .await
            .map_err(|e| QueueError::Publish(e.to_string()))?;
        // The PubAck wait is bounded by the context's ack timeout (`publish_timeout`);
        // a second timer here would cost one more timer entry per task.
        match ack.await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == jetstream::context::PublishErrorKind::TimedOut => {
                Err(QueueError::PublishTimeout(self.publish_timeout))
            }
            Err(e) => Err(QueueError::Publish(e.to_string())),
        }
    }

    /// Reads the consumer's and the stream's state.
    pub async fn depth(&self) -> Result<QueueDepth, QueueError> {
        let info = |e: &dyn std::fmt::Display| QueueError::Info(e.to_string());
        let mut stream = self
            .js
            .get_stream(&self.stream_name)
            .await
            .map_err(|e| info(&e))?;
        let consumer = stream
            .consumer_info(CONSUMER_NAME)
            .await
            .map_err(|e| info(&e))?;
        let (pending, in_flight, redelivered, waiting) = (
            consumer.num_pending,
            consumer.num_ack_pending as u64,
            consumer.num_redelivered as u64,
            consumer.num_waiting as u64,
        );
        let state = &stream.info().await.map_err(|e| info(&e))?.state;
        let oldest_age_seconds = if state.messages == 0 {
            0.0
        } else {
            let first_ms = (state.first_timestamp.unix_timestamp_nanos() / 1_000_000) as i64;
            ((crate::task::now_millis() as i64 - first_ms).max(0) as f64) / 1000.0
        };
        Ok(QueueDepth {
            pending,
            in_flight,
            redelivered,
            waiting_pulls: waiting,
            oldest_age_seconds,
        })
    }

    /// Messages in the dead-letter stream.
    pub async fn dead_letter_messages(&self) -> Result<u64, QueueError> {
        let mut stream = self
            .js
            .get_stream(&self.dead_letter_stream_name)
            .await
            .map_err(|e| QueueError::Info(e.to_string()))?;
        Ok(stream
            .info()
            .await
            .map_err(|e| QueueError::Info(e.to_string()))?
            .state
            .messages)
    }
}
